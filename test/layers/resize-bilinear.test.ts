import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/index.js';
import { bilinearInterpolationMatrix, resizeBilinearHalfPixel } from '../../src/layers/resize-bilinear.js';
import { lcgValues, maxAbsDiff } from '../helpers/arrays.js';

/** <resize(x), w> and <x, grad> for the gradient `grad` of the first with respect to x. */
function dotTest(resize: (x: tf.Tensor4D) => tf.Tensor4D, x: tf.Tensor4D, w: tf.Tensor4D) {
  const f = (t: tf.Tensor) => tf.tidy(() => tf.sum(tf.mul(resize(t as tf.Tensor4D), w)) as tf.Scalar);
  const grad = tf.grad(f)(x);
  const lhs = f(x);
  // Resizing is linear, so <resize(x), w> = <x, resize^T(w)> = <x, grad>.
  const rhs = tf.tidy(() => tf.sum(tf.mul(x, grad)));
  const out = { lhs: lhs.dataSync()[0]!, rhs: rhs.dataSync()[0]!, grad: grad.dataSync() as Float32Array };
  tf.dispose([grad, lhs, rhs]);
  return out;
}

describe.each(['cpu', 'wasm'] as const)('resizeBilinearHalfPixel on %s', (backend) => {
  beforeAll(async () => {
    await selectBackend({ backend });
  });

  it.each([
    [6, 10],
    [4, 8],
    [5, 3],
  ])('%i -> %i: forward = tf.image.resizeBilinear(half-pixel), gradient = its adjoint', (from, to) => {
    const x = tf.tensor4d(lcgValues(2 * from * from * 3, 7), [2, from, from, 3]);
    const w = tf.tensor4d(lcgValues(2 * to * to * 3, 8), [2, to, to, 3]);
    const before = tf.memory().numTensors;
    const ours = resizeBilinearHalfPixel(x, [to, to]);
    const stock = tf.image.resizeBilinear(x, [to, to], false, true);
    expect(maxAbsDiff(ours.dataSync(), stock.dataSync())).toBe(0);
    const fixed = dotTest((t) => resizeBilinearHalfPixel(t, [to, to]), x, w);
    expect(Math.abs(fixed.lhs - fixed.rhs)).toBeLessThan(1e-4);
    // The gradient from the interpolation matrices written out in plain numbers.
    const mh = bilinearInterpolationMatrix(from, to);
    const wv = w.dataSync();
    const expected = new Float32Array(2 * from * from * 3);
    for (let n = 0; n < 2; n++)
      for (let i = 0; i < from; i++)
        for (let j = 0; j < from; j++)
          for (let c = 0; c < 3; c++) {
            let s = 0;
            for (let p = 0; p < to; p++)
              for (let q = 0; q < to; q++)
                s += mh[p * from + i]! * mh[q * from + j]! * wv[((n * to + p) * to + q) * 3 + c]!;
            expected[((n * from + i) * from + j) * 3 + c] = s;
          }
    expect(maxAbsDiff(fixed.grad, expected)).toBeLessThan(1e-5);
    tf.dispose([ours, stock]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, w]);
  });

  it("documents the tfjs bug it works around: the stock kernel's gradient is not the adjoint when upsampling 6 -> 10", () => {
    const x = tf.tensor4d(lcgValues(6 * 6, 3), [1, 6, 6, 1]);
    const w = tf.tensor4d(lcgValues(10 * 10, 4), [1, 10, 10, 1]);
    const stock = dotTest((t) => tf.image.resizeBilinear(t, [10, 10], false, true), x, w);
    // If tfjs fixes ResizeBilinearGrad this fails, and resizeBilinearHalfPixel can go.
    expect(Math.abs(stock.lhs - stock.rhs)).toBeGreaterThan(1e-2);
    tf.dispose([x, w]);
  });
});
