/**
 * A MultiRoiNet's weights as a safetensors file, each tensor under its stable path
 * (`branches.<roi>.tokens.proj.kernel`, `fusion.head.classifier.bias`, ...), with the resolved model
 * configuration in the file's metadata. This is the exchange format for other engines: the PyTorch
 * twin of the heads (`bench/heads.py`) reads it, and weights trained elsewhere come back through
 * {@link loadMultiRoiNetSafetensors}.
 *
 * Layouts are tfjs's, not PyTorch's: dense kernels are `[in, out]` (`y = x · kernel + bias`), the
 * attention-pool query is `[keyDim, 1]`. The tfjs checkpoint (`model.json` + `weights.bin`, see
 * `MultiRoiNet.save`) stays the format for resuming training; this one carries weights only.
 */

import { writeFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { encodeSafetensors, readSafetensors, type SafetensorsWriteTensor } from './safetensors.js';
import { MrnError } from '../errors.js';
import type { ModelWeight, MultiRoiNet } from '../layers/multi-roi-net.js';
import { MRN_VERSION } from '../version.js';

/** The `format` metadata value of a MultiRoiNet safetensors file. */
export const MULTI_ROI_NET_SAFETENSORS_FORMAT = 'mrn-multi-roi-net-weights';

/**
 * The weights a checkpoint holds: the heads', plus the backbone's only when it is fine-tuned (a frozen
 * backbone is the user's own file, as in `MultiRoiNet.save`).
 */
function savedWeights(model: MultiRoiNet): ModelWeight[] {
  return model.namedWeights().filter((w) => !w.path.startsWith('backbone.') || model.config.trainBackbone);
}

/**
 * Encodes a model's weights as safetensors bytes: every saved weight as F32 under its path, in
 * {@link MultiRoiNet.namedWeights} order; metadata `format` ({@link MULTI_ROI_NET_SAFETENSORS_FORMAT}),
 * `config` (the resolved configuration as JSON), `layout` and `mrnVersion`.
 *
 * @example
 * ```ts
 * await saveMultiRoiNetSafetensors(model, 'heads.safetensors');
 * // python: safetensors.torch.load_file('heads.safetensors')['fusion.head.classifier.kernel']
 * ```
 */
export async function encodeMultiRoiNetSafetensors(model: MultiRoiNet): Promise<Uint8Array> {
  const tensors: Record<string, SafetensorsWriteTensor> = {};
  for (const w of savedWeights(model)) {
    const value = w.variable.read();
    if (value.dtype !== 'float32') {
      throw new MrnError('E_INTERNAL', `weight '${w.path}' is ${value.dtype}, expected float32`);
    }
    tensors[w.path] = { dtype: 'F32', shape: value.shape, data: (await value.data()) as Float32Array };
  }
  return encodeSafetensors(tensors, {
    format: MULTI_ROI_NET_SAFETENSORS_FORMAT,
    config: JSON.stringify(model.getConfig()),
    layout: 'tfjs: dense kernels [in, out], y = x . kernel + bias',
    mrnVersion: MRN_VERSION,
  });
}

/** Writes {@link encodeMultiRoiNetSafetensors} to `file`. Throws `E_IO` when the file cannot be written. */
export async function saveMultiRoiNetSafetensors(model: MultiRoiNet, file: string): Promise<void> {
  const bytes = await encodeMultiRoiNetSafetensors(model);
  try {
    await writeFile(file, bytes);
  } catch (cause) {
    throw new MrnError('E_IO', `cannot write safetensors file: ${(cause as Error).message}`, { file, cause });
  }
}

/**
 * Assigns a model's weights from a safetensors file (a path or its bytes) whose tensor names are the
 * model's weight paths, as {@link saveMultiRoiNetSafetensors} writes them. Every weight the model
 * saves must be there, F32 (F16/BF16 are widened on reading) with its shape, and nothing else; the
 * model is left untouched unless all of them match.
 *
 * @throws MrnError `E_CHECKPOINT` listing missing, extra, mis-shaped or non-float tensors;
 *   `E_SAFETENSORS_INVALID`, `E_FILE_NOT_FOUND`, `E_IO` from reading the file.
 */
export async function loadMultiRoiNetSafetensors(
  model: MultiRoiNet,
  source: string | Uint8Array,
): Promise<void> {
  const file = typeof source === 'string' ? source : undefined;
  // Files written before the `.` naming convention carry the older paths: map them to today's.
  const tensors = Object.fromEntries(
    Object.entries(await readSafetensors(source)).map(([name, t]) => [model.canonicalWeightPath(name), t]),
  );
  const expected = savedWeights(model);
  const wanted = new Set(expected.map((w) => w.path));
  const missing = expected.filter((w) => !tensors[w.path]).map((w) => w.path);
  const extra = Object.keys(tensors).filter((name) => !wanted.has(name));
  const wrong: string[] = [];
  for (const w of expected) {
    const t = tensors[w.path];
    if (!t) continue;
    if (!(t.data instanceof Float32Array)) wrong.push(`${w.path}: dtype ${t.dtype}, expected F32`);
    else if (!tf.util.arraysEqual(t.shape, w.variable.shape as number[])) {
      wrong.push(`${w.path}: file [${t.shape}] vs model [${w.variable.shape}]`);
    }
  }
  if (missing.length || extra.length || wrong.length) {
    throw new MrnError(
      'E_CHECKPOINT',
      `loadMultiRoiNetSafetensors: tensors do not match the model (missing ${missing.length}, extra ${extra.length}, mis-shaped or wrong dtype ${wrong.length})` +
        [...missing.slice(0, 3), ...extra.slice(0, 3), ...wrong.slice(0, 3)].map((s) => `\n  ${s}`).join(''),
      { file, details: { missing, extra, wrong } },
    );
  }
  for (const w of expected) {
    const t = tensors[w.path]!;
    const value = tf.tensor(t.data as Float32Array, t.shape, 'float32');
    w.variable.write(value);
    value.dispose();
  }
}
