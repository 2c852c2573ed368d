import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/index.js';
import { blockClassFractions } from '../../src/losses/block-targets.js';
import { mrnObjective } from '../../src/losses/objective.js';
import { MultiRoiNet } from '../../src/layers/multi-roi-net.js';
import { disposeBatch, makeFeatureBatch } from '../../src/train/feature-batch.js';
import { CachedFeatureSource } from '../../src/train/feature-extraction.js';
import { createRng } from '../../src/rng.js';

// One ROI, D = 2 slices of S = 28 (2 x 2 tokens of a 14-pixel patch), E = 6, 3 classes.
const [D, S, N, E, K] = [2, 28, 4, 6, 3];

function sample(seed: number) {
  const rng = createRng(seed);
  const masks = new Uint8Array(D * S * S).map((_, i) => {
    const x = i % S;
    const y = Math.floor(i / S) % S;
    return Math.abs(x - 13) < 3 && Math.abs(y - 9) < 2 ? 1 + (rng.next() < 0.5 ? 1 : 0) : 0;
  });
  return { depth: D, size: S, slices: new Float32Array(D * S * S), masks, valid: [true, true] };
}

function encoded(seed: number) {
  const rng = createRng(seed);
  return {
    patch: tf.tensor4d(
      Float32Array.from({ length: D * N * E }, () => rng.normal(0, 1)),
      [1, D, N, E],
    ),
    cls: tf.tensor3d(
      Float32Array.from({ length: D * E }, () => rng.normal(0, 1)),
      [1, D, E],
    ),
  };
}

beforeAll(async () => {
  await selectBackend({ backend: 'cpu' });
});

describe('masks reduced once, when features are cached', () => {
  it('CachedFeatureSource keeps per-block class fractions; batches carry them; the loss equals slice masks reduced inside', async () => {
    const blocks = new CachedFeatureSource(['r'], 1, {}, { upsample: 2, classes: { r: K } });
    const plain = new CachedFeatureSource(['r'], 1);
    for (const [i, id] of ['A', 'B'].entries()) {
      const f = encoded(i);
      await blocks.put(id, 'r', 0, sample(10 + i) as never, f);
      await plain.put(id, 'r', 0, sample(10 + i) as never, f);
      tf.dispose([f.patch, f.cls]);
    }
    const got = blocks.get('A', 'r', 0);
    expect(got.masks).toBeUndefined();
    expect(got.blocks).toBe(4);
    expect(got.classes).toBe(K);
    const expected = blockClassFractions(sample(10).masks, { maps: D, size: S, blocks: 4, classes: K });
    expect(Array.from(got.blockMasks!)).toEqual(Array.from(expected));
    expect(plain.get('A', 'r', 0).blockMasks).toBeUndefined();

    const model = new MultiRoiNet({
      rois: [{ id: 'r', numClasses: K, slices: D }],
      preset: 'mrn-tiny',
      embedDim: 8,
      segHiddenDim: 4,
      sliceSize: S,
      projectionDim: 4,
      backboneDim: E,
      patchSize: 14,
    });
    const before = tf.memory().numTensors;
    const reduced = await makeFeatureBatch(blocks, ['A', 'B'], [0, 0], [0, 1]);
    const full = await makeFeatureBatch(plain, ['A', 'B'], [0, 0], [0, 1]);
    expect(reduced.rois.r!.masks!.shape).toEqual([2, D, 4, 4, K]);
    expect(full.rois.r!.masks!.shape).toEqual([2, D, S, S]);
    const seg = (batch: typeof reduced) =>
      tf.tidy(() => mrnObjective(model.apply(batch), batch).segmentation.dataSync()[0]!);
    const a = seg(reduced);
    expect(a).toBeGreaterThan(0);
    expect(seg(full)).toBe(a);
    disposeBatch(reduced);
    disposeBatch(full);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
    blocks.clear();
    plain.clear();
  });

  it('bad block settings and out-of-range mask ids are named', async () => {
    expect(() => new CachedFeatureSource(['r'], 1, {}, { upsample: 0, classes: { r: 2 } })).toThrow(
      /upsample must be a positive integer/,
    );
    expect(() => new CachedFeatureSource(['r', 'q'], 1, {}, { upsample: 2, classes: { r: 2 } })).toThrow(
      /lacks ROI\(s\) q/,
    );
    const source = new CachedFeatureSource(['r'], 1, {}, { upsample: 2, classes: { r: 2 } });
    const f = encoded(1);
    await expect(source.put('A', 'r', 0, sample(3) as never, f)).rejects.toMatchObject({
      code: 'E_INVALID_ARGUMENT',
      message: expect.stringMatching(/ROI 'r' masks: .*\[0, 2\)/),
    });
    expect(source.cache.size).toBe(0);
    tf.dispose([f.patch, f.cls]);
    source.clear();
  });
});
