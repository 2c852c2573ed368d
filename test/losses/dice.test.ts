import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createRng, diceCELoss, diceLoss, isMrnError, selectBackend } from '../../src/index.js';
import { allFinite, BACKENDS, readJson, valueAndGrad } from './helpers.js';
import { thrownBy } from '../helpers/errors.js';
import { maxAbsDiff } from '../helpers/arrays.js';

interface DiceCase {
  name: string;
  logits_shape: [number, number, number, number, number];
  logits: number[];
  targets: number[];
  valid: number[][];
  include_background: boolean;
  batch: boolean;
  smooth_nr: number;
  smooth_dr: number;
  lambda_dice: number;
  lambda_ce: number;
  ce_class_weights: number[] | null;
  ce_label_smoothing: number;
  dice: number;
  dice_grad: number[];
  dice_ce: number;
  dice_ce_grad: number[];
}

const reference = readJson<{ dice: DiceCase[] }>('../fixtures/losses/seg-ce-reference.json');

/** Logits that put `margin` on the target class of every voxel. */
function confident(targets: number[], shape: number[], c: number, margin: number): tf.Tensor5D {
  return tf.tidy(() =>
    tf
      .oneHot(tf.tensor1d(targets, 'int32'), c)
      .toFloat()
      .mul(margin)
      .reshape([...shape, c]),
  ) as tf.Tensor5D;
}

describe.each(BACKENDS)('diceLoss / diceCELoss on %s', (backend) => {
  beforeAll(async () => {
    await selectBackend({ backend });
  });

  it.each(reference.dice.map((c) => [c.name, c] as const))(
    'matches the MONAI formula (torch float64, padding slices dropped): %s',
    async (_name, c) => {
      const before = tf.memory().numTensors;
      const x = tf.tensor(c.logits, c.logits_shape) as tf.Tensor5D;
      const [b, d, h, w] = c.logits_shape;
      const targets = tf.tensor4d(c.targets, [b, d, h, w], 'int32');
      const valid = tf.tensor2d(c.valid);
      const options = {
        valid,
        includeBackground: c.include_background,
        batch: c.batch,
        smoothNr: c.smooth_nr,
        smoothDr: c.smooth_dr,
      };
      const dice = await valueAndGrad((f) => diceLoss(f as tf.Tensor5D, targets, options), x);
      expect(Math.abs(dice.value - c.dice) / c.dice).toBeLessThan(1e-5);
      expect(maxAbsDiff(dice.grad, c.dice_grad)).toBeLessThan(1e-6);
      const both = await valueAndGrad(
        (f) =>
          diceCELoss(f as tf.Tensor5D, targets, {
            ...options,
            diceWeight: c.lambda_dice,
            ceWeight: c.lambda_ce,
            ceClassWeights: c.ce_class_weights ?? undefined,
            ceLabelSmoothing: c.ce_label_smoothing,
          }),
        x,
      );
      expect(Math.abs(both.value - c.dice_ce) / c.dice_ce).toBeLessThan(1e-5);
      expect(maxAbsDiff(both.grad, c.dice_ce_grad)).toBeLessThan(1e-6);
      tf.dispose([x, targets, valid]);
      expect(tf.memory().numTensors).toBe(before);
    },
  );

  it('a hand-computed 2-voxel case (probabilities in, softmax off)', () => {
    // voxel 0: p = [0.8, 0.2], truth 0; voxel 1: p = [0.4, 0.6], truth 1.
    const probs = tf.tensor([0.8, 0.2, 0.4, 0.6], [1, 1, 1, 2, 2]) as tf.Tensor5D;
    const targets = tf.tensor4d([0, 1], [1, 1, 1, 2], 'int32');
    const nr = 1e-5;
    const f0 = 1 - (2 * 0.8 + nr) / (1.2 + 1 + nr);
    const f1 = 1 - (2 * 0.6 + nr) / (0.8 + 1 + nr);
    const all = diceLoss(probs, targets, { softmax: false });
    const fg = diceLoss(probs, targets, { softmax: false, includeBackground: false });
    expect(all.dataSync()[0]).toBeCloseTo((f0 + f1) / 2, 6);
    expect(fg.dataSync()[0]).toBeCloseTo(f1, 6);
    tf.dispose([probs, targets, all, fg]);
  });

  it('a perfect prediction gives ~0 Dice and ~0 Dice-CE', () => {
    const rng = createRng(3);
    const ids = Array.from({ length: 2 * 3 * 4 * 4 }, () => rng.int(0, 4));
    const targets = tf.tensor4d(ids, [2, 3, 4, 4], 'int32');
    const logits = confident(ids, [2, 3, 4, 4], 4, 30);
    for (const includeBackground of [true, false]) {
      const dice = diceLoss(logits, targets, { includeBackground });
      const both = diceCELoss(logits, targets, { includeBackground });
      expect(dice.dataSync()[0]).toBeLessThan(1e-6);
      expect(both.dataSync()[0]).toBeLessThan(1e-6);
      tf.dispose([dice, both]);
    }
    tf.dispose([targets, logits]);
  });

  it('empty ground truth: ≈0 for an empty prediction, ≈1 for a false positive, never NaN', async () => {
    // All-background targets, background excluded: only the empty foreground class counts.
    const ids = new Array(1 * 2 * 3 * 3).fill(0);
    const targets = tf.tensor4d(ids, [1, 2, 3, 3], 'int32');
    const empty = confident(ids, [1, 2, 3, 3], 2, 30);
    const falsePositive = confident(new Array(ids.length).fill(1), [1, 2, 3, 3], 2, 30);
    const a = await valueAndGrad(
      (f) => diceLoss(f as tf.Tensor5D, targets, { includeBackground: false }),
      empty,
    );
    const b = await valueAndGrad(
      (f) => diceLoss(f as tf.Tensor5D, targets, { includeBackground: false }),
      falsePositive,
    );
    expect(a.value).toBeLessThan(1e-4);
    expect(b.value).toBeGreaterThan(0.999);
    expect(allFinite(a.grad) && allFinite(b.grad)).toBe(true);
    tf.dispose([targets, empty, falsePositive]);
  });

  it('no valid slice at all: Dice ≈ 0, CE 0, zero gradient, no NaN', async () => {
    const rng = createRng(4);
    const ids = Array.from({ length: 2 * 2 * 3 * 3 }, () => rng.int(0, 3));
    const targets = tf.tensor4d(ids, [2, 2, 3, 3], 'int32');
    const logits = tf.tensor(
      Array.from({ length: ids.length * 3 }, () => rng.normal()),
      [2, 2, 3, 3, 3],
    ) as tf.Tensor5D;
    const valid = tf.zeros([2, 2]) as tf.Tensor2D;
    const both = await valueAndGrad((f) => diceCELoss(f as tf.Tensor5D, targets, { valid }), logits);
    expect(Math.abs(both.value)).toBeLessThan(1e-9);
    expect(both.grad.every((g) => g === 0)).toBe(true);
    tf.dispose([targets, logits, valid]);
  });

  it('padding slices do not count: changing them changes neither loss nor gradient, and they get zero gradient', async () => {
    const rng = createRng(5);
    const [b, d, h, w, c] = [2, 3, 4, 4, 3];
    const n = b * d * h * w;
    const ids = Array.from({ length: n }, () => rng.int(0, c));
    const logitValues = Array.from({ length: n * c }, () => rng.normal());
    const valid = tf.tensor2d([
      [1, 1, 0],
      [1, 0, 0],
    ]) as tf.Tensor2D;
    const isPadding = (i: number) => {
      const slice = Math.floor(i / (h * w)) % d;
      const sample = Math.floor(i / (d * h * w));
      return (
        [
          [0, 0, 1],
          [0, 1, 1],
        ][sample][slice] === 1
      );
    };
    const ids2 = ids.map((v, i) => (isPadding(i) ? (v + 1) % c : v));
    const logits2 = logitValues.map((v, i) => (isPadding(Math.floor(i / c)) ? v * -7 + 3 : v));
    const run = async (idv: number[], lv: number[]) => {
      const t = tf.tensor4d(idv, [b, d, h, w], 'int32');
      const x = tf.tensor(lv, [b, d, h, w, c]) as tf.Tensor5D;
      const out = await valueAndGrad(
        (f) => diceCELoss(f as tf.Tensor5D, t, { valid, includeBackground: false }),
        x,
      );
      tf.dispose([t, x]);
      return out;
    };
    const one = await run(ids, logitValues);
    const two = await run(ids2, logits2);
    expect(two.value).toBe(one.value);
    expect(maxAbsDiff(one.grad, two.grad)).toBe(0);
    for (let i = 0; i < n; i++)
      if (isPadding(i)) for (let k = 0; k < c; k++) expect(one.grad[i * c + k]).toBe(0);
    valid.dispose();
  });

  it('leaks no tensor under tf.variableGrads', () => {
    const before = tf.memory().numTensors;
    const init = tf.randomNormal([1, 2, 3, 3, 3]);
    const v = tf.variable(init);
    init.dispose();
    const targets = tf.tensor4d(new Array(18).fill(1), [1, 2, 3, 3], 'int32');
    const valid = tf.tensor2d([[1, 0]]) as tf.Tensor2D;
    const { value, grads } = tf.variableGrads(
      () => diceCELoss(v as unknown as tf.Tensor5D, targets, { valid }),
      [v],
    );
    tf.dispose([value, ...Object.values(grads), targets, valid, v]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects bad input with E_INVALID_ARGUMENT and leaks nothing', () => {
    const logits = tf.zeros([1, 2, 3, 3, 2]) as tf.Tensor5D;
    const targets = tf.zeros([1, 2, 3, 3], 'int32') as tf.Tensor4D;
    const wrongSize = tf.zeros([1, 2, 3, 4], 'int32') as tf.Tensor4D;
    const wrongDepth = tf.zeros([1, 3, 3, 3], 'int32') as tf.Tensor4D;
    const floatTargets = tf.zeros([1, 2, 3, 3]) as tf.Tensor4D;
    const outOfRange = tf.fill([1, 2, 3, 3], 2, 'int32') as tf.Tensor4D;
    const negative = tf.fill([1, 2, 3, 3], -1, 'int32') as tf.Tensor4D;
    const badValid = tf.ones([1, 3]) as tf.Tensor2D;
    const rank4 = tf.zeros([2, 3, 3, 2]) as unknown as tf.Tensor5D;
    const before = tf.memory().numTensors;
    const cases: [string, () => unknown][] = [
      ['spatial mismatch', () => diceLoss(logits, wrongSize)],
      ['depth mismatch (Dice-CE)', () => diceCELoss(logits, wrongDepth)],
      ['float targets', () => diceLoss(logits, floatTargets)],
      ['id = C', () => diceLoss(logits, outOfRange)],
      ['negative id (Dice-CE)', () => diceCELoss(logits, negative)],
      ['valid shape', () => diceLoss(logits, targets, { valid: badValid })],
      ['rank-4 logits', () => diceLoss(rank4, targets)],
      ['negative smoothing', () => diceLoss(logits, targets, { smoothDr: -1 })],
      ['negative ceWeight', () => diceCELoss(logits, targets, { ceWeight: -1 })],
      ['ce class weight count', () => diceCELoss(logits, targets, { ceClassWeights: [1, 2, 3] })],
      ['ce label smoothing 1', () => diceCELoss(logits, targets, { ceLabelSmoothing: 1 })],
    ];
    for (const [name, f] of cases) {
      const error = thrownBy(f, name);
      expect(isMrnError(error, 'E_INVALID_ARGUMENT'), name).toBe(true);
    }
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([logits, targets, wrongSize, wrongDepth, floatTargets, outOfRange, negative, badValid, rank4]);
  });
});
