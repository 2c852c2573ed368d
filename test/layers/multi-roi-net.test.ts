import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend.js';
import { DEFAULT_ROI_SPECS, MultiRoiNet, roiSpecsFromDefinitions } from '../../src/layers/multi-roi-net.js';
import type { MrnBatch } from '../../src/layers/types.js';
import { TinyVit } from './helpers/tiny-vit.js';
import {
  disposeBatch,
  randomMasks,
  syntheticSlices,
  TINY_CONFIG,
  TINY_ROIS,
  tinyImageBatch,
  tinyLoss,
  validFlags,
} from './helpers/tiny-model.js';
import { expectMrnError } from '../helpers/errors.js';

let vit: TinyVit;

beforeAll(async () => {
  await selectBackend({ backend: 'cpu' });
  vit = new TinyVit({ imageSize: 28, patchSize: 7, embedDim: 16 });
});

function disposeCost(cost: tf.Scalar | null): void {
  cost?.dispose();
}

describe('MultiRoiNet shapes', () => {
  it.each([
    {
      b: 1,
      e: 8,
      fusion: 'transformer' as const,
      rois: [{ id: 'x', numClasses: 2, slices: 5 }],
      s: 14,
      p: 7,
    },
    {
      b: 3,
      e: 16,
      fusion: 'concat-mlp' as const,
      rois: [
        { id: 'a', numClasses: 2, slices: 2 },
        { id: 'b', numClasses: 5, slices: 6 },
        { id: 'c', numClasses: 4 },
      ],
      s: 28,
      p: 7,
    },
    { b: 2, e: 12, fusion: 'transformer' as const, rois: roiSpecsFromDefinitions(fourRois()), s: 28, p: 14 },
  ])('B=$b E=$e S=$s patch=$p fusion=$fusion, $rois.length ROIs', ({ b, e, fusion, rois, s, p }) => {
    const backbone = new TinyVit({ imageSize: s, patchSize: p, embedDim: 8 });
    const model = new MultiRoiNet(
      { preset: 'mrn-tiny', rois, embedDim: e, fusion, sliceSize: s, projectionDim: 6, segHiddenDim: 4 },
      { backbone },
    );
    const start = tf.memory().numTensors;
    const n = (s / p) ** 2;
    const batch: MrnBatch = { rois: {} };
    rois.forEach((r, i) => {
      const d = r.slices ?? 3;
      batch.rois[r.id] = { slices: syntheticSlices(Array(b).fill(i % 2), d, s, i), valid: validFlags(b, d) };
    });
    const out = model.apply(batch);
    const r = rois.length;
    expect(out.roiIds).toEqual(rois.map((x) => x.id));
    expect(out.logits.shape).toEqual([b, 2]);
    expect(out.patientEmbedding.shape).toEqual([b, e]);
    expect(out.roiTokens.shape).toEqual([b, r, e]);
    expect(out.projections.shape).toEqual([b, r, 6]);
    for (const roi of rois) {
      const d = roi.slices ?? 3;
      // Default segResolution 'block': the aux head's native map, token grid side x segUpsample.
      expect(out.segLogits[roi.id]!.shape).toEqual([b, d, (s / p) * 2, (s / p) * 2, roi.numClasses]);
      expect(out.sliceAttention[roi.id]!.shape).toEqual([b, d]);
      expect(out.patchAttention[roi.id]!.shape).toEqual([b, d, n]);
      const rowSums = tf.tidy(() => tf.sum(out.patchAttention[roi.id]!, -1).arraySync() as number[][]);
      for (const row of rowSums) for (const v of row) expect(v).toBeCloseTo(1, 5);
    }
    if (fusion === 'transformer') expect(out.roiAttention!.shape).toEqual([b, r]);
    else expect(out.roiAttention).toBeUndefined();
    // Full-resolution maps on request, everything else unchanged.
    const full = model.apply(batch, { segResolution: 'full' });
    for (const roi of rois) {
      expect(full.segLogits[roi.id]!.shape).toEqual([b, roi.slices ?? 3, s, s, roi.numClasses]);
    }
    expect(full.logits.dataSync()).toEqual(out.logits.dataSync());
    tf.dispose(full as unknown as tf.TensorContainer);
    tf.dispose(out as unknown as tf.TensorContainer);
    disposeBatch(batch);
    expect(tf.memory().numTensors).toBe(start);
    model.dispose();
    backbone.dispose();
  });

  it('the default ROI specs are the four MRN ROIs of preprocess/roi-definitions.ts', async () => {
    expect(roiSpecsFromDefinitions(fourRois())).toEqual(DEFAULT_ROI_SPECS.map((r) => ({ ...r })));
    expect(DEFAULT_ROI_SPECS.map((r) => r.id)).toEqual(['nm-sn', 'qsm-bg', 'qsm-mb', 'qsm-dn']);
  });

  it('takes cached features and images interchangeably, with identical results', async () => {
    const model = new MultiRoiNet(TINY_CONFIG, { backbone: vit });
    const batch = tinyImageBatch([0, 1]);
    const fromImages = model.apply(batch);
    const a = batch.rois['roi-a']! as { slices: tf.Tensor5D; valid: tf.Tensor2D };
    const encoded = await model.encoder!.encode(a.slices);
    const mixed = model.apply({ rois: { ...batch.rois, 'roi-a': { ...encoded, valid: a.valid } } });
    expect(await mixed.logits.data()).toEqual(await fromImages.logits.data());
    // applyAsync skips padding slices in the backbone: same logits (padding never reaches the token).
    const viaAsync = await model.applyAsync(batch);
    const diff = tf.max(tf.abs(tf.sub(viaAsync.logits, fromImages.logits))).dataSync()[0]!;
    expect(diff).toBeLessThan(1e-5);
    tf.dispose([fromImages, mixed, viaAsync, encoded] as unknown as tf.TensorContainer);
    disposeBatch(batch);
    model.dispose();
  });

  it('summary lists every weight, nested aux-head weights and the frozen backbone included', () => {
    const model = new MultiRoiNet(TINY_CONFIG, { backbone: vit });
    const text = model.summary();
    const named = model.namedWeights();
    for (const w of named) expect(text).toContain(w.path);
    expect(named.some((w) => w.path.startsWith('branches.roi-a.aux.mlp.fc2'))).toBe(true);
    expect(named.filter((w) => w.path.startsWith('backbone.')).every((w) => !w.trainable)).toBe(true);
    expect(new Set(named.map((w) => w.path)).size).toBe(named.length);
    const trainable = named.filter((w) => w.trainable).map((w) => w.variable);
    expect(new Set(model.trainableWeights)).toEqual(new Set(trainable));
    expect(text).toMatch(/total params: \d+; trainable: \d+/);
    model.dispose();
  });
});

describe('MultiRoiNet training', () => {
  it('one Adam step changes every trainable weight and no weight of the frozen backbone', () => {
    const model = new MultiRoiNet(TINY_CONFIG, { backbone: vit });
    const batch = tinyImageBatch([0, 1, 1]);
    batch.rois['roi-b']!.masks = randomMasks(3, 3, 28, 3, 5);
    const snapshot = (ws: tf.LayerVariable[]) => ws.map((w) => w.read().dataSync().slice());
    const backboneBefore = snapshot(vit.weights);
    const trainable = model.trainableWeights;
    expect(trainable.length).toBeGreaterThan(50);
    const before = snapshot(trainable);
    // Real gradients, not float noise (Adam turns any noise into a full-size step): a parameter that
    // softmax ignores (a key bias in single-query pooling) showed up here and was removed.
    const { value, grads } = tf.variableGrads(
      () => tinyLoss(model.apply(batch, { training: true }), batch),
      model.trainableVariables(),
    );
    const weak = trainable.filter(
      (w) => !(tf.tidy(() => tf.max(tf.abs(grads[(w.read() as tf.Variable).name]!)).dataSync()[0]!) > 1e-6),
    );
    expect(weak.map((w) => w.name)).toEqual([]);
    tf.dispose([value, ...Object.values(grads)]);
    const opt = tf.train.adam(1e-3);
    // No varList: tfjs would update every trainable tf.Variable it saw; the frozen backbone must stay put.
    disposeCost(opt.minimize(() => tinyLoss(model.apply(batch, { training: true }), batch)));
    const after = snapshot(trainable);
    const unchanged = trainable.filter((_, i) => after[i]!.every((v, j) => v === before[i]![j]));
    expect(unchanged.map((w) => w.name)).toEqual([]);
    expect(snapshot(vit.weights)).toEqual(backboneBefore);
    opt.dispose();
    disposeBatch(batch);
    model.dispose();
  });

  it('a model with a single ROI trains (its projection gets a gradient)', () => {
    const model = new MultiRoiNet({ ...TINY_CONFIG, rois: [TINY_ROIS[0]!] }, { backbone: vit });
    const full = tinyImageBatch([0, 1]);
    const batch = { rois: { 'roi-a': full.rois['roi-a']! }, labels: full.labels };
    const { value, grads } = tf.variableGrads(
      () => tinyLoss(model.apply(batch, { training: true }), batch),
      model.trainableVariables(),
    );
    const projection = Object.keys(grads).filter((n) => n.includes('proj'));
    expect(projection.length).toBeGreaterThan(0);
    for (const n of projection)
      expect(tf.tidy(() => tf.max(tf.abs(grads[n]!)).dataSync()[0]!)).toBeGreaterThan(0);
    tf.dispose([value, ...Object.values(grads)]);
    tf.dispose(Object.values(full.rois['roi-b']!) as tf.Tensor[]);
    disposeBatch(batch);
    model.dispose();
  });

  it('with trainBackbone the backbone weights are trainable and move too', () => {
    const backbone = new TinyVit({ imageSize: 28, patchSize: 7, embedDim: 16, seed: 11 });
    const model = new MultiRoiNet({ ...TINY_CONFIG, trainBackbone: true }, { backbone });
    const batch = tinyImageBatch([0, 1]);
    for (const w of backbone.weights) expect(model.trainableWeights).toContain(w);
    const before = backbone.weights.map((w) => w.read().dataSync().slice());
    const opt = tf.train.adam(1e-3);
    disposeCost(
      opt.minimize(
        () => tinyLoss(model.apply(batch, { training: true }), batch),
        true,
        model.trainableVariables(),
      ),
    );
    backbone.weights.forEach((w, i) =>
      expect(Array.from(w.read().dataSync())).not.toEqual(Array.from(before[i]!)),
    );
    opt.dispose();
    disposeBatch(batch);
    model.dispose();
    backbone.dispose();
  });

  it('numTensors is the same after step 1 and step 20 of forward + backward + update', () => {
    const model = new MultiRoiNet(TINY_CONFIG, { backbone: vit });
    const batch = tinyImageBatch([1, 0]);
    const opt = tf.train.adam(1e-3);
    const step = () =>
      disposeCost(
        opt.minimize(
          () => tinyLoss(model.apply(batch, { training: true }), batch),
          true,
          model.trainableVariables(),
        ),
      );
    step();
    const afterFirst = tf.memory().numTensors;
    for (let i = 1; i < 20; i++) step();
    expect(tf.memory().numTensors).toBe(afterFirst);
    opt.dispose();
    disposeBatch(batch);
    model.dispose();
  });

  it('overfits 8 synthetic cases to 100% training accuracy', () => {
    const labels = [0, 1, 0, 1, 1, 0, 1, 0];
    const model = new MultiRoiNet({ ...TINY_CONFIG, seed: 5 }, { backbone: vit });
    const batch = tinyImageBatch(labels, 21);
    const opt = tf.train.adam(3e-3);
    let accuracy = 0;
    let steps = 0;
    const accuracyNow = () =>
      tf.tidy(() => {
        const out = model.apply(batch);
        return tf.mean(tf.cast(tf.equal(tf.argMax(out.logits, 1), batch.labels!), 'float32')).dataSync()[0]!;
      });
    while (steps < 80) {
      disposeCost(
        opt.minimize(
          () => tinyLoss(model.apply(batch, { training: true }), batch),
          true,
          model.trainableVariables(),
        ),
      );
      steps++;
      if (steps % 5 === 0 && (accuracy = accuracyNow()) === 1) break;
    }
    expect(accuracy).toBe(1);
    expect(steps).toBeLessThanOrEqual(80);
    opt.dispose();
    disposeBatch(batch);
    model.dispose();
  });
});

describe('MultiRoiNet errors', () => {
  it('missing ROI, unknown ROI, wrong ranks and mismatched D give clear MrnErrors', () => {
    const model = new MultiRoiNet(TINY_CONFIG, { backbone: vit });
    const batch = tinyImageBatch([0, 1]);
    const { 'roi-b': roiB, ...onlyA } = batch.rois;
    expectMrnError(() => model.apply({ rois: onlyA }), 'E_INVALID_ARGUMENT', /lacks ROI input\(s\) roi-b/);
    expectMrnError(
      () => model.apply({ rois: { ...batch.rois, 'roi-z': roiB! } }),
      'E_INVALID_ARGUMENT',
      /unknown ROI id\(s\) roi-z/,
    );
    const a = batch.rois['roi-a'] as { slices: tf.Tensor5D; valid: tf.Tensor2D };
    const wrongRank = tf.zeros([2, 4, 28, 28]);
    expectMrnError(
      () =>
        model.apply({
          rois: { ...batch.rois, 'roi-a': { slices: wrongRank as unknown as tf.Tensor5D, valid: a.valid } },
        }),
      'E_INVALID_ARGUMENT',
      /ROI 'roi-a': slices must have shape \[\?, \?, \?, \?, \?\], got \[2, 4, 28, 28\]/,
    );
    const shortValid = validFlags(2, 3);
    expectMrnError(
      () => model.apply({ rois: { ...batch.rois, 'roi-a': { slices: a.slices, valid: shortValid } } }),
      'E_INVALID_ARGUMENT',
      /ROI 'roi-a': valid must have shape \[2, 4\], got \[2, 3\]/,
    );
    const badMasks = tf.zeros([2, 3, 28, 28], 'int32') as tf.Tensor4D;
    expectMrnError(
      () => model.apply({ rois: { ...batch.rois, 'roi-a': { ...a, masks: badMasks } } }),
      'E_INVALID_ARGUMENT',
      /ROI 'roi-a': masks must have shape \[2, 4, \?, \?\]/,
    );
    const tooMany = syntheticSlices([0, 1], 6, 28, 1);
    expectMrnError(
      () => model.apply({ rois: { ...batch.rois, 'roi-a': { slices: tooMany, valid: validFlags(2, 6) } } }),
      'E_INVALID_ARGUMENT',
      /D = 6 slices, more than its 4/,
    );
    const other = syntheticSlices([0], 4, 28, 1);
    expectMrnError(
      () => model.apply({ rois: { ...batch.rois, 'roi-a': { slices: other, valid: validFlags(1, 4) } } }),
      'E_INVALID_ARGUMENT',
      /ROI 'roi-b' has batch size 2, other ROIs 1/,
    );
    const feats = {
      patch: tf.zeros([2, 3, 16, 16]) as tf.Tensor4D,
      cls: tf.zeros([2, 4, 16]) as tf.Tensor3D,
    };
    expectMrnError(
      () => model.apply({ rois: { ...batch.rois, 'roi-b': { ...feats, valid: validFlags(2, 3) } } }),
      'E_INVALID_ARGUMENT',
      /ROI 'roi-b': cls must have shape \[2, 3, 16\], got \[2, 4, 16\]/,
    );
    tf.dispose([wrongRank, shortValid, badMasks, tooMany, other, feats.patch, feats.cls]);
    const headsOnly = new MultiRoiNet({ ...TINY_CONFIG, backboneDim: 16 });
    expectMrnError(() => headsOnly.apply(batch), 'E_CONFIG', /no backbone/);
    expectMrnError(() => new MultiRoiNet({ ...TINY_CONFIG }), 'E_CONFIG', /backboneDim/);
    expectMrnError(
      () => new MultiRoiNet({ ...TINY_CONFIG, backboneDim: 32 }, { backbone: vit }),
      'E_CONFIG',
      /embedDim is 16/,
    );
    expectMrnError(
      () =>
        new MultiRoiNet(
          {
            ...TINY_CONFIG,
            rois: [
              { id: 'a', numClasses: 2 },
              { id: 'a', numClasses: 2 },
            ],
          },
          { backbone: vit },
        ),
      'E_CONFIG',
      /duplicate ROI id 'a'/,
    );
    disposeBatch(batch);
    model.dispose();
    headsOnly.dispose();
  });
});

/** The four MRN ROI definitions as preprocess/roi-definitions.ts shapes them (id, classes, slices). */
function fourRois() {
  return [
    { id: 'nm-sn', classes: ['bg', 'SN'], slices: 8 },
    { id: 'qsm-bg', classes: ['bg', 'CN', 'PUT', 'GP', 'THA'], slices: 20 },
    { id: 'qsm-mb', classes: ['bg', 'STN', 'SN', 'RN'], slices: 10 },
    { id: 'qsm-dn', classes: ['bg', 'DN'], slices: 8 },
  ];
}
