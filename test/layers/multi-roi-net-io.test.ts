/** MultiRoiNet save/load (multi-roi-net-io.ts). */
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend.js';
import { MultiRoiNet } from '../../src/layers/multi-roi-net.js';
import { TinyVit } from './helpers/tiny-vit.js';
import { disposeBatch, TINY_CONFIG, tinyImageBatch, tinyLoss } from './helpers/tiny-model.js';
import { expectMrnError } from '../helpers/errors.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'mrn-net-'));
let vit: TinyVit;

beforeAll(async () => {
  await selectBackend({ backend: 'cpu' });
  vit = new TinyVit({ imageSize: 28, patchSize: 7, embedDim: 16 });
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function disposeCost(cost: tf.Scalar | null): void {
  cost?.dispose();
}

describe('MultiRoiNet save/load', () => {
  it('saves model.json + weights.bin and loads identical logits', async () => {
    const model = new MultiRoiNet({ ...TINY_CONFIG, fusion: 'concat-mlp', seed: 9 }, { backbone: vit });
    const batch = tinyImageBatch([0, 1]);
    // Move the weights off their initial values so a fresh model would differ.
    const opt = tf.train.sgd(0.1);
    disposeCost(
      opt.minimize(
        () => tinyLoss(model.apply(batch, { training: true }), batch),
        true,
        model.trainableVariables(),
      ),
    );
    const dir = path.join(tmp, 'ckpt');
    await model.save(dir);
    const json = JSON.parse(readFileSync(path.join(dir, 'model.json'), 'utf8'));
    expect(json.format).toBe('mrn-multi-roi-net');
    expect(json.weightsManifest[0].paths).toEqual(['./weights.bin']);
    const loaded = await MultiRoiNet.load(dir, { backbone: vit });
    expect(loaded.getConfig()).toEqual(model.getConfig());
    const a = model.apply(batch);
    const b = loaded.apply(batch);
    expect(await b.logits.data()).toEqual(await a.logits.data());
    expect(await b.segLogits['roi-b']!.data()).toEqual(await a.segLogits['roi-b']!.data());
    const fresh = new MultiRoiNet({ ...TINY_CONFIG, fusion: 'concat-mlp', seed: 9 }, { backbone: vit });
    const c = fresh.apply(batch);
    expect(await c.logits.data()).not.toEqual(await a.logits.data());
    tf.dispose([a, b, c] as unknown as tf.TensorContainer);
    // Features-only load (no backbone) works from config.backboneDim.
    const headsOnly = await MultiRoiNet.load(dir);
    expect(headsOnly.encoder).toBeNull();
    for (const m of [model, loaded, fresh, headsOnly]) m.dispose();
    opt.dispose();
    disposeBatch(batch);
  });

  it('stores segResolution; a checkpoint without it (saved before it existed) loads as full', async () => {
    const batch = tinyImageBatch([0, 1]);
    for (const segResolution of ['block', 'full'] as const) {
      const model = new MultiRoiNet({ ...TINY_CONFIG, segResolution }, { backbone: vit });
      const dir = path.join(tmp, `res-${segResolution}`);
      await model.save(dir);
      const json = JSON.parse(readFileSync(path.join(dir, 'model.json'), 'utf8'));
      expect(json.modelTopology.config.segResolution).toBe(segResolution);
      const loaded = await MultiRoiNet.load(dir, { backbone: vit });
      expect(loaded.config.segResolution).toBe(segResolution);
      const out = loaded.apply(batch);
      expect(out.segLogits['roi-b']!.shape).toEqual(
        segResolution === 'block' ? [2, 3, 8, 8, 3] : [2, 3, 28, 28, 3],
      );
      tf.dispose(out as unknown as tf.TensorContainer);
      loaded.dispose();
      model.dispose();
    }
    expect(new MultiRoiNet(TINY_CONFIG, { backbone: vit }).config.segResolution).toBe('block');
    // An old checkpoint: the same files without the field.
    const dir = path.join(tmp, 'res-block');
    const json = JSON.parse(readFileSync(path.join(dir, 'model.json'), 'utf8'));
    delete json.modelTopology.config.segResolution;
    writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json));
    const old = await MultiRoiNet.load(dir, { backbone: vit });
    expect(old.config.segResolution).toBe('full');
    const out = old.apply(batch);
    expect(out.segLogits['roi-b']!.shape).toEqual([2, 3, 28, 28, 3]);
    tf.dispose(out as unknown as tf.TensorContainer);
    old.dispose();
    expectMrnError(
      () => new MultiRoiNet({ ...TINY_CONFIG, segResolution: 'half' as 'full' }, { backbone: vit }),
      'E_CONFIG',
      /segResolution must be 'block' or 'full'/,
    );
    disposeBatch(batch);
  });

  it('saves and restores a fine-tuned backbone', async () => {
    const backbone = new TinyVit({ imageSize: 28, patchSize: 7, embedDim: 16, seed: 12 });
    const model = new MultiRoiNet({ ...TINY_CONFIG, trainBackbone: true }, { backbone });
    const dir = path.join(tmp, 'ft');
    await model.save(dir);
    await expect(MultiRoiNet.load(dir)).rejects.toMatchObject({ code: 'E_CHECKPOINT' });
    const other = new TinyVit({ imageSize: 28, patchSize: 7, embedDim: 16, seed: 99 });
    const loaded = await MultiRoiNet.load(dir, { backbone: other });
    other.weights.forEach((w, i) =>
      expect(w.read().dataSync()).toEqual(backbone.weights[i]!.read().dataSync()),
    );
    for (const m of [model, loaded]) m.dispose();
    backbone.dispose();
    other.dispose();
  });

  it('rejects a foreign checkpoint, a mismatched backbone, and tampered weights', async () => {
    const model = new MultiRoiNet(TINY_CONFIG, { backbone: vit });
    const dir = path.join(tmp, 'bad');
    await model.save(dir);
    const wide = new TinyVit({ imageSize: 28, patchSize: 7, embedDim: 8 });
    await expect(MultiRoiNet.load(dir, { backbone: wide })).rejects.toMatchObject({ code: 'E_CHECKPOINT' });
    await expect(MultiRoiNet.load(path.join(tmp, 'nowhere'))).rejects.toMatchObject({
      code: 'E_FILE_NOT_FOUND',
    });
    const json = JSON.parse(readFileSync(path.join(dir, 'model.json'), 'utf8'));
    json.weightsManifest[0].weights[0].name = 'branches.roi-a.renamed';
    writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json));
    await expect(MultiRoiNet.load(dir, { backbone: vit })).rejects.toThrow(/missing 1, extra 1/);
    json.format = 'layers-model';
    writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json));
    await expect(MultiRoiNet.load(dir, { backbone: vit })).rejects.toMatchObject({ code: 'E_CHECKPOINT' });
    model.dispose();
    wide.dispose();
  });
});
