import { describe, expect, it } from 'vitest';
import { createRng, MrnError } from '../../src/index.js';
import {
  accuracy,
  areaUnderCurve,
  balancedAccuracy,
  binaryMetrics,
  bootstrapCi,
  confusionMatrix,
  formatMetric,
  rocAuc,
  rocCurve,
  sensitivity,
  specificity,
} from '../../src/train/metrics.js';

/** Independent AUC: fraction of (PD, HC) pairs ranked correctly, ties counting one half. */
function pairwiseAuc(labels: number[], scores: number[]): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < labels.length; i++) {
    for (let j = 0; j < labels.length; j++) {
      if (labels[i] === 1 && labels[j] === 0) {
        den++;
        num += scores[i]! > scores[j]! ? 1 : scores[i] === scores[j] ? 0.5 : 0;
      }
    }
  }
  return num / den;
}

describe('confusion-matrix metrics', () => {
  it('match hand-computed values', () => {
    const labels = [1, 1, 1, 0, 0, 0, 0, 1];
    const preds = [1, 0, 1, 0, 1, 0, 0, 1];
    const m = confusionMatrix(labels, preds);
    expect(m).toEqual({ tp: 3, fn: 1, tn: 3, fp: 1 });
    expect(accuracy(m)).toBe(6 / 8);
    expect(sensitivity(m)).toBe(3 / 4);
    expect(specificity(m)).toBe(3 / 4);
    expect(balancedAccuracy(m)).toBe(3 / 4);
    const skew = confusionMatrix([1, 1, 1, 1, 0], [1, 1, 1, 1, 1]);
    expect(accuracy(skew)).toBe(0.8);
    expect(balancedAccuracy(skew)).toBe(0.5);
  });

  it('are NaN when a class is absent, never a division by zero', () => {
    const m = confusionMatrix([1, 1], [1, 0]);
    expect(sensitivity(m)).toBe(0.5);
    expect(specificity(m)).toBeNaN();
    expect(accuracy(confusionMatrix([], []))).toBeNaN();
  });

  it('reject non-binary labels and length mismatches', () => {
    expect(() => confusionMatrix([1, 2], [1, 1])).toThrow(/labels must be 0 or 1, got 2 at index 1/);
    expect(() => confusionMatrix([1, 0], [1])).toThrow(MrnError);
    expect(() => rocAuc([0, 1], [0.1, NaN])).toThrow(/not finite/);
  });
});

describe('rocAuc', () => {
  it('equals the pairwise definition, ties counted as one half', () => {
    const rng = createRng(3);
    for (let trial = 0; trial < 20; trial++) {
      const n = rng.int(4, 60);
      const labels = Array.from({ length: n }, (_, i) => (i < 2 ? i : rng.int(0, 2)));
      // Few distinct values, so there are many ties.
      const scores = labels.map((y) => Math.round((rng.normal() + y) * 2) / 2);
      expect(rocAuc(labels, scores)).toBeCloseTo(pairwiseAuc(labels, scores), 12);
    }
  });

  it('is 1 for perfect, 0 for inverted, 0.5 for constant scores, NaN with one class', () => {
    expect(rocAuc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])).toBe(1);
    expect(rocAuc([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1])).toBe(0);
    expect(rocAuc([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5])).toBe(0.5);
    expect(rocAuc([1, 1], [0.2, 0.3])).toBeNaN();
  });

  it('the ROC curve runs (0,0) to (1,1) and its area equals rocAuc', () => {
    const labels = [0, 1, 0, 1, 1, 0, 1, 0, 0, 1];
    const scores = [0.1, 0.9, 0.4, 0.4, 0.7, 0.2, 0.3, 0.7, 0.05, 0.95];
    const pts = rocCurve(labels, scores);
    expect(pts[0]).toEqual({ fpr: 0, tpr: 0, threshold: Infinity });
    expect(pts.at(-1)).toMatchObject({ fpr: 1, tpr: 1 });
    for (let i = 1; i < pts.length; i++) {
      expect(pts[i]!.fpr).toBeGreaterThanOrEqual(pts[i - 1]!.fpr);
      expect(pts[i]!.tpr).toBeGreaterThanOrEqual(pts[i - 1]!.tpr);
    }
    expect(areaUnderCurve(pts)).toBeCloseTo(rocAuc(labels, scores), 12);
    expect(() => rocCurve([1, 1], [0.1, 0.2])).toThrow(/needs both classes/);
  });
});

describe('bootstrap confidence intervals', () => {
  const rng = createRng(11);
  const labels = Array.from({ length: 80 }, (_, i) => i % 2);
  const probs = labels.map((y) => Math.min(1, Math.max(0, 0.5 + (y - 0.5) * 0.4 + rng.normal(0, 0.25))));

  it('contain the point estimate, are seeded, and narrow with more data', () => {
    const a = binaryMetrics(labels, probs, { seed: 5, iterations: 400 });
    const b = binaryMetrics(labels, probs, { seed: 5, iterations: 400 });
    expect(a).toEqual(b);
    for (const key of ['accuracy', 'balancedAccuracy', 'auc', 'sensitivity', 'specificity'] as const) {
      const m = a[key];
      expect(m.lo).toBeLessThanOrEqual(m.value);
      expect(m.hi).toBeGreaterThanOrEqual(m.value);
      expect(m.hi - m.lo).toBeGreaterThan(0);
    }
    const c = binaryMetrics(labels, probs, { seed: 6, iterations: 400 });
    expect(c.accuracy.lo === a.accuracy.lo && c.auc.hi === a.auc.hi && c.accuracy.hi === a.accuracy.hi).toBe(
      false,
    );
    const big = [...labels, ...labels, ...labels, ...labels];
    const bigP = [...probs, ...probs, ...probs, ...probs];
    const wide = a.accuracy.hi - a.accuracy.lo;
    const narrow = binaryMetrics(big, bigP, { seed: 5, iterations: 400 });
    expect(narrow.accuracy.hi - narrow.accuracy.lo).toBeLessThan(wide * 0.75);
    expect(a.confusion.tp + a.confusion.fn).toBe(40);
    expect(formatMetric(a.accuracy)).toMatch(/^\d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\]$/);
  });

  it('skips resamples where the metric is undefined', () => {
    // 1 PD among 10: many resamples have no PD, where AUC is undefined.
    const ys = [1, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    const ss = [0.9, 0.1, 0.2, 0.3, 0.1, 0.2, 0.3, 0.1, 0.2, 0.3];
    const ci = bootstrapCi(ys, ss, rocAuc, { seed: 1, iterations: 200 });
    expect(ci.value).toBe(1);
    expect(ci.lo).toBe(1);
    expect(ci.hi).toBe(1);
  });

  it('rejects bad options and probabilities', () => {
    expect(() => bootstrapCi([0, 1], [0, 1], rocAuc, { iterations: 0 })).toThrow(/iterations/);
    expect(() => bootstrapCi([0, 1], [0, 1], rocAuc, { level: 1 })).toThrow(/level/);
    expect(() => binaryMetrics([0, 1], [0.2, 1.2])).toThrow(/not in \[0, 1\]/);
  });
});
