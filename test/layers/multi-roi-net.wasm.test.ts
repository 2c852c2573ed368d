/**
 * The heads must train on the wasm backend (no Conv2DBackpropFilter, Einsum, gather or strided-slice
 * gradients there): one training step runs on wasm, and its gradients equal the cpu backend's.
 */

import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend.js';
import { MultiRoiNet } from '../../src/layers/multi-roi-net.js';
import { TinyVit } from './helpers/tiny-vit.js';
import { disposeBatch, randomMasks, TINY_CONFIG, tinyImageBatch, tinyLoss } from './helpers/tiny-model.js';

beforeAll(async () => {
  await selectBackend({ backend: 'wasm' });
});

/** Gradients of the tiny loss w.r.t. every trainable weight (backbone included), by weight path. */
function gradients(model: MultiRoiNet): Map<string, Float32Array> {
  const batch = tinyImageBatch([0, 1]);
  batch.rois['roi-a']!.masks = randomMasks(2, 4, 28, 2, 3);
  const weights = model.namedWeights().filter((w) => w.trainable);
  const { value, grads } = tf.variableGrads(
    () => tinyLoss(model.apply(batch, { training: true }), batch),
    weights.map((w) => w.variable.read() as tf.Variable),
  );
  const out = new Map<string, Float32Array>();
  for (const w of weights)
    out.set(w.path, grads[(w.variable.read() as tf.Variable).name]!.dataSync() as Float32Array);
  tf.dispose([value, ...Object.values(grads)]);
  disposeBatch(batch);
  return out;
}

describe('training on the wasm backend', () => {
  it('runs an optimiser step end to end (backbone fine-tuned too) with gradients equal to cpu', async () => {
    expect(tf.getBackend()).toBe('wasm');
    const backbone = new TinyVit({ imageSize: 28, patchSize: 7, embedDim: 16, seed: 4 });
    const model = new MultiRoiNet({ ...TINY_CONFIG, trainBackbone: true }, { backbone });
    const onWasm = gradients(model);

    const batch = tinyImageBatch([1, 0]);
    const before = model.trainableWeights.map((w) => w.read().dataSync().slice());
    const opt = tf.train.adam(1e-3);
    const cost = opt.minimize(
      () => tinyLoss(model.apply(batch, { training: true }), batch),
      true,
      model.trainableVariables(),
    );
    expect(Number.isFinite(cost!.dataSync()[0])).toBe(true);
    model.trainableWeights.forEach((w, i) =>
      expect(Array.from(w.read().dataSync())).not.toEqual(Array.from(before[i]!)),
    );
    // Undo the step so the cpu gradients are taken at the same point.
    model.trainableWeights.forEach((w, i) => w.write(tf.tensor(before[i]!, w.shape as number[])));
    tf.dispose([cost!]);
    opt.dispose();
    disposeBatch(batch);

    await selectBackend({ backend: 'cpu' });
    const onCpu = gradients(model);
    let worst = 0;
    for (const [name, g] of onCpu) {
      const w = onWasm.get(name)!;
      const scale = Math.max(1e-3, ...Array.from(g, Math.abs));
      for (let i = 0; i < g.length; i++) worst = Math.max(worst, Math.abs(g[i]! - w[i]!) / scale);
    }
    expect(onCpu.size).toBe(onWasm.size);
    expect(worst).toBeLessThan(1e-3);
    model.dispose();
    backbone.dispose();
  });
});
