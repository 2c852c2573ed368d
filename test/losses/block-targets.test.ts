import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  adaptivePoolWindows,
  blockClassFractions,
  blockTargets,
  diceCELoss,
  diceLoss,
  isMrnError,
  mrnObjective,
  segTargetsFor,
  selectBackend,
  type MrnBatch,
  type MrnOutputs,
} from '../../src/index.js';
import { BACKENDS, readJson, valueAndGrad } from './helpers.js';
import { thrownBy } from '../helpers/errors.js';
import { lcgValues, maxAbsDiff } from '../helpers/arrays.js';

interface PoolCase {
  name: string;
  maps: number;
  size: number;
  blocks: number;
  classes: number;
  masks: number[];
  fractions: number[];
}

interface SoftCase {
  name: string;
  shape: [number, number, number, number, number];
  slice_size: number;
  masks: number[];
  valid: number[];
  logits: number[];
  include_background: boolean;
  class_weights: number[] | null;
  dice: number;
  ce: number;
  dice_ce: number;
  grad: number[];
}

const reference = readJson<{ pool: PoolCase[]; soft: SoftCase[] }>(
  '../fixtures/losses/block-targets-reference.json',
);

describe('adaptivePoolWindows / blockClassFractions', () => {
  it('windows are PyTorch adaptive_avg_pool2d windows (hand-computed: 7 -> 2 and 224 -> 64)', () => {
    // 7 -> 2: cell 0 covers floor(0)..ceil(3.5)-1 = 0..3, cell 1 covers floor(3.5)..ceil(7)-1 = 3..6.
    expect(adaptivePoolWindows(7, 2)).toEqual([
      { start: 0, end: 4 },
      { start: 3, end: 7 },
    ]);
    const w = adaptivePoolWindows(224, 64);
    expect(w.slice(0, 3)).toEqual([
      { start: 0, end: 4 },
      { start: 3, end: 7 },
      { start: 7, end: 11 },
    ]);
    expect(w[63]).toEqual({ start: 220, end: 224 });
    expect(adaptivePoolWindows(8, 4)).toEqual([0, 2, 4, 6].map((s) => ({ start: s, end: s + 2 })));
  });

  it('a hand-computed 4x4 -> 2x2 case (3 classes)', () => {
    // prettier-ignore
    const masks = [
      0, 0, 1, 2,
      0, 1, 2, 2,
      0, 0, 0, 0,
      2, 2, 0, 1,
    ];
    const f = blockClassFractions(masks, { maps: 1, size: 4, blocks: 2, classes: 3 });
    // prettier-ignore
    expect(Array.from(f)).toEqual([
      0.75, 0.25, 0,    0, 0.25, 0.75,
      0.5, 0, 0.5,      0.75, 0.25, 0,
    ]);
  });

  it.each(reference.pool.map((c) => [c.name, c] as const))(
    'equals torch F.adaptive_avg_pool2d of the one-hot masks: %s',
    (_name, c) => {
      const f = blockClassFractions(c.masks, {
        maps: c.maps,
        size: c.size,
        blocks: c.blocks,
        classes: c.classes,
      });
      expect(f.length).toBe(c.fractions.length);
      expect(maxAbsDiff(f, c.fractions)).toBeLessThanOrEqual(1e-7);
    },
  );

  it('bad ids, lengths and sizes are E_INVALID_ARGUMENT', () => {
    for (const fn of [
      () => blockClassFractions([0, 3, 0, 0], { maps: 1, size: 2, blocks: 1, classes: 3 }),
      () => blockClassFractions([0, 1, 0], { maps: 1, size: 2, blocks: 1, classes: 3 }),
      () => adaptivePoolWindows(0, 2),
      () => blockTargets(tf.zeros([1, 1, 2, 2]) as tf.Tensor4D, 1, 2),
    ]) {
      const e = thrownBy(fn);
      expect(isMrnError(e) && e.code).toBe('E_INVALID_ARGUMENT');
    }
  });
});

describe.each(BACKENDS)('soft-target Dice and Dice-CE on %s', (backend) => {
  beforeAll(async () => {
    await selectBackend({ backend });
  });

  it.each(reference.soft.map((c) => [c.name, c] as const))(
    'match the MONAI formulas with soft g (torch float64, padding slices dropped): %s',
    async (_name, c) => {
      const before = tf.memory().numTensors;
      const [b, d, t, , k] = c.shape;
      const masks = tf.tensor4d(c.masks, [b, d, c.slice_size, c.slice_size], 'int32');
      const targets = blockTargets(masks, t, k);
      const x = tf.tensor(c.logits, c.shape) as tf.Tensor5D;
      const valid = tf.tensor2d(c.valid, [b, d]);
      const options = { valid, includeBackground: c.include_background };
      const dice = await valueAndGrad((f) => diceLoss(f as tf.Tensor5D, targets, options), x);
      expect(Math.abs(dice.value - c.dice) / c.dice).toBeLessThan(1e-5);
      const both = await valueAndGrad(
        (f) =>
          diceCELoss(f as tf.Tensor5D, targets, {
            ...options,
            ceClassWeights: c.class_weights ?? undefined,
          }),
        x,
      );
      expect(Math.abs(both.value - c.dice_ce) / c.dice_ce).toBeLessThan(1e-5);
      expect(maxAbsDiff(both.grad, c.grad)).toBeLessThan(1e-6);
      tf.dispose([masks, targets, x, valid]);
      expect(tf.memory().numTensors).toBe(before);
    },
  );

  it('one-hot soft targets give exactly the class-id losses (weights, smoothing, padding)', async () => {
    const [b, d, h, c] = [2, 3, 5, 4];
    const ids = Array.from(lcgValues(b * d * h * h, 5), (v) => Math.floor(((v + 1) / 2) * c));
    const targets = tf.tensor4d(ids, [b, d, h, h], 'int32');
    const soft = tf.tidy(() => tf.oneHot(targets, c).toFloat()) as tf.Tensor5D;
    const x = tf.tensor5d(
      Array.from(lcgValues(b * d * h * h * c, 9), (v) => 4 * v - 2),
      [b, d, h, h, c],
    );
    const valid = tf.tensor2d([1, 1, 0, 1, 1, 1], [b, d]);
    for (const options of [
      { valid },
      { valid, includeBackground: true, ceClassWeights: [0.2, 1, 3, 0.5], ceLabelSmoothing: 0.1 },
      { valid, batch: true, diceWeight: 0.5, ceWeight: 2 },
    ]) {
      const ids1 = await valueAndGrad((f) => diceCELoss(f as tf.Tensor5D, targets, options), x);
      const soft1 = await valueAndGrad((f) => diceCELoss(f as tf.Tensor5D, soft, options), x);
      expect(Math.abs(soft1.value - ids1.value)).toBeLessThanOrEqual(1e-6 * Math.abs(ids1.value));
      expect(maxAbsDiff(soft1.grad, ids1.grad)).toBeLessThanOrEqual(1e-7);
    }
    tf.dispose([targets, soft, x, valid]);
  });

  it('soft targets must be float32 and shaped like the logits', () => {
    const x = tf.zeros([1, 2, 3, 3, 2]) as tf.Tensor5D;
    for (const t of [
      tf.zeros([1, 2, 3, 3, 2], 'int32'),
      tf.zeros([1, 2, 3, 3, 3]),
      tf.zeros([1, 2, 4, 4, 2]),
    ]) {
      const e = thrownBy(() => diceCELoss(x, t as tf.Tensor5D));
      expect(isMrnError(e) && e.code).toBe('E_INVALID_ARGUMENT');
      t.dispose();
    }
    x.dispose();
  });

  it('mrnObjective: slice masks reduced inside and masks reduced before give identical terms', () => {
    const [b, d, s, t, k] = [2, 3, 14, 4, 3];
    const ids = Array.from(lcgValues(b * d * s * s, 21), (v) => Math.floor(((v + 1) / 2) * k));
    const masks = tf.tensor4d(ids, [b, d, s, s], 'int32');
    const reduced = blockTargets(masks, t, k);
    const valid = tf.tensor2d([1, 1, 1, 1, 0, 0], [b, d]);
    const outputs: MrnOutputs = {
      roiIds: ['r'],
      logits: tf.tensor2d([0.3, -0.2, 1, 0.5], [2, 2]),
      patientEmbedding: tf.zeros([2, 4]),
      roiTokens: tf.zeros([2, 1, 4]),
      projections: tf.tensor3d(Array.from(lcgValues(2 * 1 * 4, 3)), [2, 1, 4]),
      segLogits: {
        r: tf.tensor5d(
          Array.from(lcgValues(b * d * t * t * k, 4), (v) => 3 * v),
          [b, d, t, t, k],
        ),
      },
      sliceAttention: {},
      patchAttention: {},
    };
    const batchOf = (m: tf.Tensor4D | tf.Tensor5D): MrnBatch => ({
      rois: { r: { patch: tf.zeros([b, d, 4, 2]), cls: tf.zeros([b, d, 2]), valid, masks: m } },
      labels: tf.tensor1d([0, 1], 'int32'),
    });
    const inside = batchOf(masks);
    const before = batchOf(reduced);
    const read = (batch: MrnBatch) => {
      const terms = mrnObjective(outputs, batch);
      const values = [terms.total, terms.classification, terms.segmentation, terms.contrastive].map(
        (v) => v.dataSync()[0]!,
      );
      tf.dispose(Object.values(terms));
      return values;
    };
    const n0 = tf.memory().numTensors;
    const a = read(inside);
    expect(tf.memory().numTensors).toBe(n0);
    const c = read(before);
    expect(c).toEqual(a);
    expect(a[2]).toBeGreaterThan(0);
    tf.dispose([masks, reduced, valid, inside.labels!, before.labels!]);
    for (const batch of [inside, before]) {
      const roi = batch.rois.r as { patch: tf.Tensor; cls: tf.Tensor };
      tf.dispose([roi.patch, roi.cls]);
    }
    tf.dispose([
      outputs.logits,
      outputs.patientEmbedding,
      outputs.roiTokens,
      outputs.projections,
      outputs.segLogits.r!,
    ]);
  });
});

describe('segTargetsFor', () => {
  it('names a block-size mismatch between cached fractions and the logits', () => {
    const logits = tf.zeros([1, 1, 4, 4, 2]) as tf.Tensor5D;
    const fractions = tf.zeros([1, 1, 8, 8, 2]) as tf.Tensor5D;
    const e = thrownBy(() => segTargetsFor(logits, fractions));
    expect(isMrnError(e) && e.code).toBe('E_INVALID_ARGUMENT');
    expect((e as Error).message).toMatch(/reduced to 8 x 8 blocks but the aux logits are 4 x 4/);
    tf.dispose([logits, fractions]);
  });
});
