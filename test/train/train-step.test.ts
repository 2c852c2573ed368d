import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/index.js';
import { clipByGlobalNorm } from '../../src/train/train-step.js';

beforeAll(async () => {
  await selectBackend({ backend: 'cpu' });
});

describe('clipByGlobalNorm', () => {
  it('scales to the max norm only when above it, as torch clip_grad_norm_', () => {
    const grads = { a: tf.tensor1d([3, 0]), b: tf.tensor2d([[0, 4]]) }; // global norm 5
    const before = tf.memory().numTensors;
    const clipped = clipByGlobalNorm(grads, 1);
    expect(clipped.norm).toBeCloseTo(5, 6);
    const scale = 1 / (5 + 1e-6);
    expect(Array.from(clipped.grads.a!.dataSync())).toEqual([Math.fround(3 * scale), 0]);
    expect(clipped.grads.b!.dataSync()[1]).toBeCloseTo(4 * scale, 6);
    const unclipped = clipByGlobalNorm(grads, 10);
    expect(Array.from(unclipped.grads.b!.dataSync())).toEqual([0, 4]);
    tf.dispose([...Object.values(clipped.grads), ...Object.values(unclipped.grads)]);
    expect(tf.memory().numTensors).toBe(before);
    expect(() => clipByGlobalNorm(grads, 0)).toThrow(/maxNorm/);
    expect(clipByGlobalNorm(grads, Infinity).norm).toBeCloseTo(5, 6);
    tf.dispose(Object.values(grads));
  });
});
