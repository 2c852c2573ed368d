import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createRng, isMrnError, selectBackend, supConLoss } from '../../src/index.js';
import { allFinite, BACKENDS, normalizeRows, readJson, supConFloat64, valueAndGrad } from './helpers.js';
import { thrownBy } from '../helpers/errors.js';
import { maxAbsDiff } from '../helpers/arrays.js';

interface SupConCase {
  name: string;
  features_shape: [number, number, number];
  features: number[];
  labels: number[];
  temperature: number;
  base_temperature: number;
  contrast_mode: 'all' | 'one';
  features_are_normalized: boolean;
  loss: number;
  grad: number[];
}

const reference = readJson<{ cases: SupConCase[] }>('../fixtures/reference/supcon-reference.json');

function randomFeatures(seed: number, b: number, v: number, e: number): number[][][] {
  const rng = createRng(seed);
  return Array.from({ length: b }, () =>
    Array.from({ length: v }, () => Array.from({ length: e }, () => rng.normal())),
  );
}

describe.each(BACKENDS)('supConLoss on %s', (backend) => {
  beforeAll(async () => {
    await selectBackend({ backend });
  });

  it.each(reference.cases.map((c) => [c.name, c] as const))(
    'matches the SupContrast reference: %s (loss 1e-5 rel, grad 1e-4 abs)',
    async (_name, c) => {
      const before = tf.memory().numTensors;
      const x = tf.tensor3d(c.features, c.features_shape);
      const { value, grad } = await valueAndGrad(
        (f) =>
          supConLoss(f, c.labels, {
            temperature: c.temperature,
            baseTemperature: c.base_temperature,
            contrastMode: c.contrast_mode,
            normalize: !c.features_are_normalized,
          }),
        x,
      );
      x.dispose();
      expect(Math.abs(value - c.loss) / Math.abs(c.loss)).toBeLessThan(1e-5);
      expect(maxAbsDiff(grad, c.grad)).toBeLessThan(1e-4);
      expect(tf.memory().numTensors).toBe(before);
    },
  );

  it('at τ = 0.01 stays finite where the reference algorithm in float32 gives log(0), and matches float64', async () => {
    // Perturbed vertices of a regular simplex: pairwise cosine ≈ −1/5, so after the reference's shift
    // by the row maximum (the self-similarity 1/τ) every off-self term is exp(≈ −120), which is 0 in
    // float32; its denominator is 0 and the loss is not finite.
    const n = 6;
    const rng = createRng(11);
    const simplex = Array.from({ length: n }, (_, i) => [
      Array.from({ length: n }, (_, k) => (k === i ? 1 : 0) - 1 / n + 0.01 * rng.normal()),
    ]);
    const feats = normalizeRows(simplex);
    const labels = [0, 1, 0, 1, 1, 2];
    const x = tf.tensor3d(feats.flat(2), [n, 1, n]);
    const naive = tf.tidy(() => {
      const z = x.reshape([n, n]);
      const sim = tf.div(tf.matMul(z, z, false, true), 0.01);
      const logits = tf.sub(sim, tf.max(sim, 1, true));
      const notSelf = tf.sub(1, tf.eye(n));
      const logProb = tf.sub(logits, tf.log(tf.sum(tf.mul(tf.exp(logits), notSelf), 1, true)));
      const pos = tf.mul(
        tf.equal(tf.tensor2d(labels, [n, 1]), tf.tensor2d(labels, [1, n])).toFloat(),
        notSelf,
      );
      return tf.neg(tf.mean(tf.div(tf.sum(tf.mul(pos, logProb), 1), tf.maximum(tf.sum(pos, 1), 1))));
    });
    expect(Number.isFinite(naive.dataSync()[0])).toBe(false);
    naive.dispose();
    const expected = supConFloat64(feats, labels, 0.01, 0.07, 'all');
    const { value, grad } = await valueAndGrad((f) => supConLoss(f, labels, { temperature: 0.01 }), x);
    x.dispose();
    expect(Math.abs(value - expected) / expected).toBeLessThan(1e-5);
    expect(allFinite(grad)).toBe(true);
  });

  it('matches an independent float64 formula at temperature 0.01 in both contrast modes', async () => {
    const feats = normalizeRows(randomFeatures(11, 6, 2, 64));
    const labels = [0, 1, 0, 1, 1, 2];
    for (const mode of ['all', 'one'] as const) {
      const expected = supConFloat64(feats, labels, 0.01, 0.07, mode);
      const x = tf.tensor3d(feats.flat(2), [6, 2, 64]);
      const { value, grad } = await valueAndGrad(
        (f) => supConLoss(f, labels, { temperature: 0.01, contrastMode: mode }),
        x,
      );
      x.dispose();
      expect(Math.abs(value - expected) / expected).toBeLessThan(1e-5);
      expect(allFinite(grad)).toBe(true);
    }
  });

  it('matches the float64 formula with normalisation inside, at several temperatures', async () => {
    const raw = randomFeatures(12, 8, 3, 16).map((views) => views.map((vec) => vec.map((x) => x * 5)));
    const labels = [0, 0, 1, 1, 2, 0, 1, 2];
    for (const t of [0.05, 0.1, 1]) {
      const expected = supConFloat64(normalizeRows(raw), labels, t, 0.07, 'all');
      const x = tf.tensor3d(raw.flat(2), [8, 3, 16]);
      const loss = supConLoss(x, labels, { temperature: t });
      expect(Math.abs(loss.dataSync()[0] - expected) / expected).toBeLessThan(1e-5);
      tf.dispose([x, loss]);
    }
  });

  const degenerate: [string, number[][][], number[]][] = [
    ['identical features', Array.from({ length: 5 }, () => [[1, 2, 3, 4]]), [0, 1, 0, 1, 1]],
    ['all labels equal', randomFeatures(13, 6, 2, 8), [3, 3, 3, 3, 3, 3]],
    ['one class of size one (single view)', randomFeatures(14, 5, 1, 8), [0, 0, 1, 1, 2]],
    ['every class of size one (single view)', randomFeatures(15, 4, 1, 8), [0, 1, 2, 3]],
    ['zero vectors', [[[0, 0, 0]], [[0, 0, 0]], [[1, 0, 0]], [[0, 0, 0]]], [0, 0, 1, 1]],
    [
      'all-zero batch',
      Array.from({ length: 4 }, () => [
        [0, 0, 0, 0],
        [0, 0, 0, 0],
      ]),
      [0, 1, 0, 1],
    ],
  ];
  it.each(degenerate)(
    'stays finite (loss and gradient) at τ = 0.01 with %s',
    async (_name, feats, labels) => {
      const [b, v, e] = [feats.length, feats[0].length, feats[0][0].length];
      const x = tf.tensor3d(feats.flat(2), [b, v, e]);
      for (const t of [0.01, 0.07]) {
        for (const mode of ['all', 'one'] as const) {
          const { value, grad } = await valueAndGrad(
            (f) => supConLoss(f, labels, { temperature: t, contrastMode: mode }),
            x,
          );
          expect(Number.isFinite(value)).toBe(true);
          expect(value).toBeGreaterThanOrEqual(0);
          expect(allFinite(grad)).toBe(true);
        }
      }
      x.dispose();
    },
  );

  it('gives log(N − 1)·τ/τ_base per anchor for identical features (every logit equal)', () => {
    // 5 samples × 1 view, all identical: each anchor's log-prob of any positive is −log 4.
    const x = tf.tensor3d(Array.from({ length: 5 }, () => [1, 2, 3]).flat(), [5, 1, 3]);
    const loss = supConLoss(x, [0, 0, 1, 1, 1], { temperature: 0.1, baseTemperature: 0.07 });
    expect(loss.dataSync()[0]).toBeCloseTo((0.1 / 0.07) * Math.log(4), 5);
    tf.dispose([x, loss]);
  });

  it('anchors without positives contribute 0 but count in the mean', () => {
    const feats = normalizeRows(randomFeatures(16, 4, 1, 8));
    const x = tf.tensor3d(feats.flat(2), [4, 1, 8]);
    const lonely = supConLoss(x, [0, 0, 1, 2], { normalize: false });
    // Only anchors 0 and 1 have positives; the mean still divides by 4.
    expect(lonely.dataSync()[0]).toBeCloseTo(supConFloat64(feats, [0, 0, 1, 2], 0.07, 0.07, 'all'), 4);
    const none = supConLoss(x, [0, 1, 2, 3]);
    expect(Math.abs(none.dataSync()[0])).toBe(0);
    tf.dispose([x, lonely, none]);
  });

  it('a single vector (B·V = 1) gives 0 with a zero gradient', async () => {
    const x = tf.tensor3d([[[0.3, -0.2, 0.5]]]);
    const { value, grad } = await valueAndGrad((f) => supConLoss(f, [1]), x);
    expect(value).toBe(0);
    expect(Array.from(grad)).toEqual([0, 0, 0]);
    x.dispose();
  });

  it('normalising already-unit features changes the loss by float rounding only', () => {
    const c = reference.cases[0];
    const x = tf.tensor3d(c.features, c.features_shape);
    const a = supConLoss(x, c.labels, { normalize: false });
    const b = supConLoss(x, c.labels, { normalize: true });
    expect(Math.abs(a.dataSync()[0] - b.dataSync()[0])).toBeLessThan(1e-5);
    tf.dispose([x, a, b]);
  });

  it('a custom mask equal to the label mask gives the same loss; no labels and no mask is SimCLR (mask = I)', () => {
    const feats = randomFeatures(17, 6, 2, 8);
    const labels = [0, 1, 1, 0, 2, 1];
    const x = tf.tensor3d(feats.flat(2), [6, 2, 8]);
    const mask = labels.map((li) => labels.map((lj) => (li === lj ? 1 : 0)));
    const byLabels = supConLoss(x, labels);
    const byMask = supConLoss(x, null, { mask });
    const byTensorMask = supConLoss(x, undefined, { mask: tf.tensor2d(mask) as tf.Tensor2D });
    const byTensorLabels = supConLoss(x, tf.tensor1d(labels, 'int32'));
    expect(byMask.dataSync()[0]).toBeCloseTo(byLabels.dataSync()[0], 6);
    expect(byTensorMask.dataSync()[0]).toBeCloseTo(byLabels.dataSync()[0], 6);
    expect(byTensorLabels.dataSync()[0]).toBeCloseTo(byLabels.dataSync()[0], 6);
    const simclr = supConLoss(x, null);
    const distinct = supConLoss(x, [0, 1, 2, 3, 4, 5]);
    expect(simclr.dataSync()[0]).toBeCloseTo(distinct.dataSync()[0], 6);
    expect(simclr.dataSync()[0]).not.toBeCloseTo(byLabels.dataSync()[0], 2);
    tf.dispose([x, byLabels, byMask, byTensorMask, byTensorLabels, simclr, distinct]);
  });

  it('leaks no tensor under tf.variableGrads, and trains the features toward their classes', () => {
    const before = tf.memory().numTensors;
    const init = tf.tensor3d(randomFeatures(18, 6, 2, 4).flat(2), [6, 2, 4]);
    const w = tf.variable(init);
    init.dispose();
    const labels = [0, 1, 0, 1, 0, 1];
    const optimizer = tf.train.sgd(0.05);
    const losses: number[] = [];
    for (let step = 0; step < 20; step++) {
      const { value, grads } = tf.variableGrads(() => supConLoss(w, labels, { temperature: 0.5 }), [w]);
      losses.push(value.dataSync()[0]);
      optimizer.applyGradients(grads);
      tf.dispose([value, ...Object.values(grads)]);
    }
    expect(losses[19]).toBeLessThan(losses[0]);
    optimizer.dispose();
    w.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects bad input with E_INVALID_ARGUMENT and leaks nothing', () => {
    const x = tf.zeros([4, 2, 3]);
    const rank2 = tf.zeros([4, 3]);
    const ints = tf.zeros([4, 2, 3], 'int32');
    const shortLabels = tf.tensor1d([0, 1], 'int32');
    const empty = tf.zeros([0, 2, 3]);
    const before = tf.memory().numTensors;
    const cases: [string, () => unknown][] = [
      ['rank 2', () => supConLoss(rank2, [0, 1, 0, 1])],
      ['int32 features', () => supConLoss(ints, [0, 1, 0, 1])],
      ['label count', () => supConLoss(x, [0, 1, 0])],
      ['label tensor count', () => supConLoss(x, shortLabels)],
      ['NaN label', () => supConLoss(x, [0, 1, NaN, 1])],
      ['labels and mask', () => supConLoss(x, [0, 1, 0, 1], { mask: [[1]] })],
      [
        'mask shape',
        () =>
          supConLoss(x, null, {
            mask: [
              [1, 0],
              [0, 1],
            ],
          }),
      ],
      ['temperature 0', () => supConLoss(x, [0, 1, 0, 1], { temperature: 0 })],
      ['negative base temperature', () => supConLoss(x, [0, 1, 0, 1], { baseTemperature: -1 })],
      ['unknown mode', () => supConLoss(x, [0, 1, 0, 1], { contrastMode: 'some' as 'all' })],
      ['empty batch', () => supConLoss(empty, [])],
    ];
    for (const [name, f] of cases) {
      const error = thrownBy(f, name);
      expect(isMrnError(error, 'E_INVALID_ARGUMENT'), name).toBe(true);
    }
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, rank2, ints, shortLabels, empty]);
  });
});
