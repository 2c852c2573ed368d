/** SliceEncoder frees the backbone's tensors when they fail its shape check (no leak on the error path). */

import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { isMrnError, selectBackend, SliceEncoder, type SliceFeatures } from '../../src/index.js';

beforeAll(async () => {
  await selectBackend({ backend: 'cpu' });
});

/** A backbone of width 6 whose CLS output has the wrong width (5) on the chunk that starts at `badFrom`. */
function faultyBackbone(badFrom: number) {
  let seen = 0;
  return (pixels: tf.Tensor4D): Promise<SliceFeatures> => {
    const m = pixels.shape[0];
    const bad = seen + m > badFrom;
    seen += m;
    return Promise.resolve({
      cls: tf.ones([m, bad ? 5 : 6]) as tf.Tensor2D,
      patch: tf.ones([m, 4, 6]) as tf.Tensor3D,
    });
  };
}

describe('SliceEncoder.encode with a backbone that returns the wrong shapes', () => {
  for (const [what, badFrom, chunkSize] of [
    ['the only chunk', 0, 8],
    ['a later chunk', 2, 2],
  ] as const) {
    it(`throws E_INVALID_ARGUMENT and leaks no tensor (${what})`, async () => {
      const encoder = new SliceEncoder({
        backbone: faultyBackbone(badFrom),
        backboneInfo: { embedDim: 6, patchSize: 14 },
        chunkSize,
      });
      const slices = tf.zeros([1, 4, 28, 28, 1]) as tf.Tensor5D;
      const before = tf.memory().numTensors;
      const error = await encoder.encode(slices).catch((e: unknown) => e);
      expect(isMrnError(error, 'E_INVALID_ARGUMENT')).toBe(true);
      expect((error as Error).message).toMatch(/backbone returned cls \[\d,5\]/);
      expect(tf.memory().numTensors).toBe(before);
      slices.dispose();
    });
  }
});
