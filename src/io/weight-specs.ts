/**
 * Validation of tfjs weight manifests (`weightSpecs`) against the bytes they describe, shared by the
 * model loader and the optimiser-state loader, so a damaged manifest is refused before tfjs slices
 * the weight buffer with it.
 */

import type * as tf from '@tensorflow/tfjs';
import { MrnError } from '../errors.js';

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

/** Bytes per element of the dtypes tfjs weight files hold. */
const WEIGHT_DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1 };

/**
 * Validates tfjs weight specs against the bytes they describe: names, integer shapes, known dtypes
 * (no quantization) and a total size equal to the data's. Throws `E_CHECKPOINT` naming `file`.
 */
export function validateWeightSpecs(
  specs: unknown,
  dataBytes: number,
  file: string,
): tf.io.WeightsManifestEntry[] {
  const bad = (what: string) => new MrnError('E_CHECKPOINT', `weight specs: ${what}`, { file });
  if (!Array.isArray(specs)) throw bad('not a list');
  let total = 0;
  const names = new Set<string>();
  for (const spec of specs as unknown[]) {
    if (!isObject(spec) || typeof spec.name !== 'string') throw bad('an entry has no name');
    if (names.has(spec.name)) throw bad(`'${spec.name}' appears twice`);
    names.add(spec.name);
    const shape = spec.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw bad(`'${spec.name}' has shape ${JSON.stringify(shape)}`);
    }
    const size = typeof spec.dtype === 'string' ? WEIGHT_DTYPE_BYTES[spec.dtype] : undefined;
    if (
      size === undefined ||
      !Object.hasOwn(WEIGHT_DTYPE_BYTES, spec.dtype as string) ||
      spec.quantization !== undefined
    ) {
      throw bad(`'${spec.name}' has dtype ${JSON.stringify(spec.dtype)} (float32, int32 or bool expected)`);
    }
    total += (shape as number[]).reduce((a, d) => a * d, 1) * size;
  }
  if (total !== dataBytes) {
    throw bad(`they describe ${total} bytes but the weights file holds ${dataBytes}`);
  }
  return specs as tf.io.WeightsManifestEntry[];
}
