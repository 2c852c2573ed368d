/** Shared check: with the last k blocks unfrozen, gradients reach exactly those weights, finite and non-zero. */
import * as tf from '@tensorflow/tfjs';
import { expect } from 'vitest';
import type { VisionTransformer } from '../../../src/layers/vit/vision-transformer.js';

export function checkPartialTuning(vit: VisionTransformer, x: tf.Tensor4D): void {
  vit.setTrainableBlocks(1);
  const trainable = vit.trainableWeights.map((w) => w.originalName.split('/').slice(1).join('/'));
  expect(trainable.length).toBe(14 + 2);
  expect(trainable.every((n) => n.startsWith(`blocks.${vit.depth - 1}.`) || n.startsWith('norm.'))).toBe(
    true,
  );
  // warm the position-embedding cache (cleared by setTrainableBlocks), then count
  tf.dispose(vit.forwardFeatures(x) as unknown as tf.TensorContainer);
  const before = tf.memory().numTensors;
  const { value, grads } = tf.variableGrads(() =>
    tf.tidy(() => {
      const f = vit.forwardFeatures(x);
      return tf.add(tf.mean(tf.square(f.patch)), tf.mean(f.cls)) as tf.Scalar;
    }),
  );
  const names = Object.keys(grads);
  expect(names.length).toBe(trainable.length);
  for (const n of names) {
    expect(n).toMatch(new RegExp(`/blocks\\.${vit.depth - 1}\\.|/norm\\.`));
    const g = grads[n].dataSync();
    expect(g.every(Number.isFinite)).toBe(true);
    expect(g.some((v) => v !== 0)).toBe(true);
  }
  tf.dispose([value, grads as unknown as tf.TensorContainer]);
  expect(tf.memory().numTensors).toBe(before);
  vit.setTrainableBlocks(0);
  expect(vit.trainableWeights.length).toBe(0);
}

/** tf.erf's gradient (used by the exact GELU) matches d/dx erf = 2/sqrt(pi) exp(-x^2) on this backend. */
export function checkErfGradient(): void {
  const xs = [-3, -1.2, -0.3, 0, 0.4, 1.7, 2.5];
  const g = tf.tidy(() =>
    tf
      .grad((x: tf.Tensor) => tf.sum(tf.erf(x)))(tf.tensor1d(xs))
      .dataSync(),
  );
  xs.forEach((x, i) => expect(g[i]).toBeCloseTo((2 / Math.sqrt(Math.PI)) * Math.exp(-x * x), 5));
}
