import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend.js';
import { setFastBlockGradients } from '../../src/layers/block-gradients.js';
import { gelu } from '../../src/layers/gelu.js';

// GELU(x) = x Φ(x) and GELU'(x) = Φ(x) + x φ(x), Φ/φ the standard normal CDF/PDF (float64 values).
const X = [-2, -1, 0, 1, 2];
const GELU = [-0.04550026389635842, -0.15865525393145707, 0, 0.8413447460685429, 1.9544997361036416];
const GELU_GRAD = [-0.08523180107819767, -0.0833154705876863, 0.5, 1.0833154705876864, 1.085231801078197];

/** Tensors the tape keeps alive after `f` ran inside `tf.grads`, besides f's inputs and output. */
function keptByForward(f: (x: tf.Tensor) => tf.Tensor, x: tf.Tensor): number {
  let kept = 0;
  const [dx] = tf.grads((a: tf.Tensor) => {
    const before = tf.memory().numTensors;
    const y = tf.tidy(() => f(a));
    kept = tf.memory().numTensors - before - 1;
    return tf.sum(y);
  })([x]);
  dx!.dispose();
  return kept;
}

beforeAll(async () => {
  await selectBackend({ backend: 'cpu' });
});
afterAll(() => setFastBlockGradients(true));

describe('gelu', () => {
  it.each([true, false])('matches the exact GELU and its derivative (closed-form gradient: %s)', (fast) => {
    setFastBlockGradients(fast);
    const x = tf.tensor1d(X);
    const y = gelu(x);
    const dx = tf.grad((a: tf.Tensor) => tf.sum(gelu(a)))(x);
    Array.from(y.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(GELU[i]!, 6));
    Array.from(dx.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(GELU_GRAD[i]!, 6));
    tf.dispose([x, y, dx]);
    setFastBlockGradients(true);
  });

  it('keeps only its input for the backward pass', () => {
    const x = tf.randomNormal([64, 16], 0, 1, 'float32', 3);
    setFastBlockGradients(false);
    const composite = keptByForward(gelu, x);
    setFastBlockGradients(true);
    expect(keptByForward(gelu, x)).toBe(1);
    expect(composite).toBeGreaterThan(3);
    x.dispose();
  });
});
