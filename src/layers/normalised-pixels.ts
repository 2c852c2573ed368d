/**
 * The slice encoder's input normalisation done on the CPU, for the inference path
 * ({@link SliceEncoder.encode}): picking the slices to run and normalising them is one pass over the
 * pixels, instead of a gather and two broadcast tensor ops (tfjs-wasm runs broadcasts against a
 * per-channel vector through a generic index loop, which cost more than the pass itself).
 */

import type { InputNormalization } from './slice-backbone.js';

/**
 * The normalised RGB pixels `[rows.length, S, S, 3]` of some slices of a `[M, S, S, C]` stack (C = 1
 * is replicated to RGB): `x * (1 / std) + (-mean / std)` per channel, with both constants rounded to
 * float32 and each operation rounded to float32, so the result is bit for bit the tensor ops'
 * (`tf.add(tf.mul(x, scale), offset)`: IEEE float32 multiply, then add, no fused multiply-add).
 *
 * @param values the stack's values, slice-major (as `tensor.data()` gives them).
 * @param rows the slices to take, in output order.
 * @param plane pixels per slice, S × S.
 * @param channels C of the stack, 1 or 3.
 */
export function normalisedPixels(
  values: ArrayLike<number>,
  rows: readonly number[],
  plane: number,
  channels: 1 | 3,
  normalization: InputNormalization,
): Float32Array {
  const { mean, std } = normalization;
  const scale = Float32Array.from(std, (s) => 1 / s);
  const offset = Float32Array.from(mean, (m, i) => -m / std[i]!);
  const f = Math.fround;
  const out = new Float32Array(rows.length * plane * 3);
  let q = 0;
  for (const row of rows) {
    const start = row * plane * channels;
    for (let p = 0; p < plane; p++) {
      const at = start + p * channels;
      for (let ch = 0; ch < 3; ch++) {
        const v = f(values[channels === 1 ? at : at + ch]!);
        out[q++] = f(v * scale[ch]!) + offset[ch]!;
      }
    }
  }
  return out;
}
