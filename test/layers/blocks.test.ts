import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend.js';
import { layerNorm, setFastBlockGradients } from '../../src/layers/blocks.js';

beforeAll(async () => {
  await selectBackend({ backend: 'cpu' });
});
afterAll(() => setFastBlockGradients(true));

describe('layerNorm', () => {
  it('closed-form gradients (recomputed from the saved input) equal automatic differentiation', () => {
    const x = tf.randomNormal([32, 24], 0, 1, 'float32', 4);
    const gamma = tf.ones([24]);
    const beta = tf.zeros([24]);
    const before = tf.memory().numTensors;
    const [dx, dg] = tf.grads((a: tf.Tensor, g: tf.Tensor) => tf.sum(tf.square(layerNorm(a, g, beta))))([
      x,
      gamma,
    ]);
    setFastBlockGradients(false);
    const [dxPlain, dgPlain] = tf.grads((a: tf.Tensor, g: tf.Tensor) =>
      tf.sum(tf.square(layerNorm(a, g, beta))),
    )([x, gamma]);
    setFastBlockGradients(true);
    const close = (a: tf.Tensor, b: tf.Tensor) =>
      Array.from(a.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(b.dataSync()[i]!, 4));
    close(dx!, dxPlain!);
    close(dg!, dgPlain!);
    tf.dispose([dx!, dg!, dxPlain!, dgPlain!]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, gamma, beta]);
  });
});
