import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend.js';
import { normalisedPixels } from '../../src/layers/normalised-pixels.js';
import { SliceEncoder, type InputNormalization } from '../../src/layers/slice-encoder.js';
import { IMAGENET_NORMALIZATION } from '../../src/layers/vit/vision-transformer.js';
import { createRng } from '../../src/rng.js';

const ODD: InputNormalization = { mean: [0.1, 0.7, 0.33], std: [0.3, 0.05, 1.7] };

/** The tensor formulation `SliceEncoder` used before (and still uses in `apply`). */
function tensorNormalise(x: tf.Tensor4D, { mean, std }: InputNormalization): tf.Tensor4D {
  return tf.tidy(() =>
    tf.add(tf.mul(x, tf.tensor1d(std.map((s) => 1 / s))), tf.tensor1d(mean.map((m, i) => -m / std[i]!))),
  );
}

function randomStack(m: number, s: number, c: number, seed: number): Float32Array {
  const rng = createRng(seed);
  return Float32Array.from({ length: m * s * s * c }, () => rng.uniform(-0.3, 1.3));
}

/** A backbone that returns its (normalised) input pixels as patch tokens, E = 3, patch size 1. */
const pixelBackbone = {
  embedDim: 3,
  patchSize: 1,
  inputNormalization: ODD,
  forwardFeatures(pixels: tf.Tensor4D) {
    const [m, h, w] = pixels.shape;
    return tf.tidy(() => ({
      patch: tf.reshape(pixels, [m, h * w, 3]) as tf.Tensor3D,
      cls: tf.reshape(tf.slice(pixels, [0, 0, 0, 0], [-1, 1, 1, -1]), [m, 3]) as tf.Tensor2D,
    }));
  },
};

describe.each(['cpu', 'wasm'] as const)('normalisedPixels on %s', (backend) => {
  it('equals the broadcast tensor ops bit for bit (1 and 3 channels, any rows)', async () => {
    await selectBackend({ backend });
    for (const [seed, c, norm] of [
      [1, 1, IMAGENET_NORMALIZATION],
      [2, 3, IMAGENET_NORMALIZATION],
      [3, 1, ODD],
    ] as const) {
      const values = randomStack(5, 6, c, seed);
      const rows = [4, 0, 2];
      const want = tf.tidy(() =>
        tensorNormalise(tf.gather(tf.tensor4d(values, [5, 6, 6, c]), rows), norm).dataSync(),
      );
      expect(normalisedPixels(values, rows, 36, c, norm)).toEqual(want);
    }
  });

  it('gives SliceEncoder.encode the pixels its tensor path gives, zeros for padding, no leaks', async () => {
    await selectBackend({ backend });
    const [b, d, s] = [2, 3, 5];
    const values = randomStack(b * d, s, 1, 7);
    const slices = tf.tensor5d(values, [b, d, s, s, 1]);
    const valid = tf.tensor2d([1, 0, 1, 1, 1, 0], [b, d]);
    const encoder = new SliceEncoder({ backbone: pixelBackbone, chunkSize: 2 });
    const before = tf.memory().numTensors;
    const out = await encoder.encode(slices, { valid });
    const got = await out.patch.data();
    tf.dispose([out.patch, out.cls]);
    expect(tf.memory().numTensors).toBe(before);
    const all = tf.tidy(() => tensorNormalise(tf.tensor4d(values, [b * d, s, s, 1]), ODD).dataSync());
    const flags = [1, 0, 1, 1, 1, 0];
    const per = s * s * 3;
    flags.forEach((f, row) => {
      const want = f ? all.subarray(row * per, (row + 1) * per) : new Float32Array(per);
      expect(got.subarray(row * per, (row + 1) * per)).toEqual(want);
    });
    tf.dispose([slices, valid]);
  });
});
