/**
 * MultiRoiNet with mrn's own DINOv2 VisionTransformer (the tiny test preset: E = 64, 3 blocks, patch
 * 14) as the backbone: the SliceBackbone contract holds, frozen and fine-tuned.
 */

import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend.js';
import { MultiRoiNet } from '../../src/layers/multi-roi-net.js';
import type { SliceBackbone } from '../../src/layers/slice-encoder.js';
import { VisionTransformer } from '../../src/layers/vit/vision-transformer.js';
import { disposeBatch, TINY_CONFIG, tinyImageBatch, tinyLoss } from './helpers/tiny-model.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'mrn-vit-'));
beforeAll(async () => {
  await selectBackend({ backend: 'cpu' });
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('MultiRoiNet on the DINOv2 VisionTransformer', () => {
  it('runs, trains only the heads when frozen, and saves/loads identical logits', async () => {
    const vit = new VisionTransformer({ preset: 'dinov2-test-tiny', seed: 1 });
    const backbone: SliceBackbone = vit; // the contract, checked by the compiler
    const model = new MultiRoiNet({ ...TINY_CONFIG, sliceSize: 28 }, { backbone });
    expect(model.config.backboneDim).toBe(64);
    expect(model.config.patchSize).toBe(14);
    const batch = tinyImageBatch([0, 1]);
    const out = model.apply(batch);
    expect(out.patchAttention['roi-a']!.shape).toEqual([2, 4, 4]);
    expect(out.segLogits['roi-b']!.shape).toEqual([2, 3, 4, 4, 3]); // block resolution: 2x2 tokens x segUpsample 2
    const vitBefore = vit.weights.map((w) => w.read().dataSync().slice());
    const opt = tf.train.adam(1e-3);
    opt.minimize(() => tinyLoss(model.apply(batch, { training: true }), batch))?.dispose();
    vit.weights.forEach((w, i) => expect(w.read().dataSync()).toEqual(vitBefore[i]));
    await model.save(path.join(tmp, 'ckpt'));
    const loaded = await MultiRoiNet.load(path.join(tmp, 'ckpt'), { backbone: vit });
    const a = model.apply(batch);
    const b = loaded.apply(batch);
    expect(Array.from(await b.logits.data())).toEqual(Array.from(await a.logits.data()));
    tf.dispose([out, a, b] as unknown as tf.TensorContainer);
    opt.dispose();
    disposeBatch(batch);
    model.dispose();
    loaded.dispose();
    vit.dispose();
  });
});
