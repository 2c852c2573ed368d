/**
 * A backbone of your own for the whole workflow: train with it (`trainMrn(..., { backbone })`),
 * record it in checkpoints, and load the trained model with it again (`loadMrn(dir, { backbone })`).
 * mrn cannot rebuild a backbone it does not know, so the checkpoint records its name and a fingerprint
 * of its weights, and `loadMrn` refuses a backbone whose fingerprint differs.
 */

import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { MrnError } from '../errors.js';
import { type BackboneInfo, type SliceBackboneLike, toSliceBackbone } from '../layers/slice-encoder.js';
import type { ResolvedBackbone } from './backbone.js';

/** Options of {@link customBackbone}. */
export interface CustomBackboneOptions extends BackboneInfo {
  /** Name recorded in checkpoints (as `preset`) and named in error messages, e.g. `lab-patch-embed-v1`. */
  name: string;
  /**
   * Fingerprint of the backbone (hex). Default: {@link weightsFingerprint} of its weights (tfjs
   * `LayersModel`s and backbones that list `weights`). Required for backbones without tfjs weights
   * (plain functions, `GraphModel`s): use a hash of the file they were loaded from.
   */
  sha256?: string;
  /** Where it was loaded from (informational, recorded in checkpoints). */
  path?: string;
  /** Frees the backbone. Default: `dispose()` of a `LayersModel`; nothing for other kinds. */
  dispose?: () => void;
}

/**
 * sha256 (hex) of a list of weights: their dtypes, shapes and values, in order. Names are left out
 * because tfjs renames layers (`dense_1`, `dense_2`, ...) by creation order within a process.
 */
export function weightsFingerprint(weights: ReadonlyArray<tf.Tensor | tf.LayerVariable>): string {
  const hash = createHash('sha256');
  for (const w of weights) {
    const t = w instanceof tf.Tensor ? w : w.read();
    hash.update(`${t.dtype}[${t.shape.join(',')}]`);
    const values = t.dataSync();
    hash.update(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  }
  return hash.digest('hex');
}

function weightsOf(like: SliceBackboneLike): tf.LayerVariable[] | undefined {
  if (like instanceof tf.LayersModel) return like.weights;
  if (typeof like === 'object' && 'forwardFeatures' in like) return like.weights;
  return undefined;
}

/**
 * Wraps a backbone of your own (a tfjs `LayersModel` that outputs `[cls, patch]`, a `GraphModel`, a
 * {@link SliceBackbone} object or a function; see {@link toSliceBackbone}) as a {@link ResolvedBackbone}
 * that {@link trainMrn} trains with and {@link loadMrn} predicts with. Checkpoints record it as
 * `{ kind: 'custom', preset: name, sha256 }`.
 *
 * @throws MrnError `E_CONFIG` when the backbone has no tfjs weights and no `sha256` is given, or when
 *   its token width or patch size cannot be told (see {@link toSliceBackbone}).
 *
 * @example
 * ```ts
 * const model = await tf.loadLayersModel(fileSystemIO('lab/backbone'));
 * const backbone = customBackbone(model, { name: 'lab-patch-embed', patchSize: 7 });
 * await trainMrn(cases, 5, { preprocessing: { size: 56 } }, { outDir: 'runs/lab', backbone });
 * const mrn = await loadMrn('runs/lab', { backbone });
 * ```
 */
export function customBackbone(like: SliceBackboneLike, options: CustomBackboneOptions): ResolvedBackbone {
  const { name, sha256, path, dispose, ...info } = options;
  if (!name) throw new MrnError('E_CONFIG', 'customBackbone: a name is required');
  const backbone = toSliceBackbone(like, info);
  let fingerprint = sha256;
  if (fingerprint === undefined) {
    const weights = weightsOf(like);
    if (!weights || weights.length === 0) {
      throw new MrnError(
        'E_CONFIG',
        `customBackbone '${name}': it has no tfjs weights to fingerprint; pass sha256 (e.g. of the file it was loaded from)`,
      );
    }
    fingerprint = weightsFingerprint(weights);
  }
  return {
    backbone,
    info: {
      kind: 'custom',
      preset: name,
      sha256: fingerprint,
      embedDim: backbone.embedDim,
      ...(path ? { path } : {}),
    },
    dispose: dispose ?? (() => void (like instanceof tf.LayersModel ? like.dispose() : undefined)),
  };
}
