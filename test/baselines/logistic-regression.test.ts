import { describe, expect, it } from 'vitest';
import { fitLogisticRegression, predictLogistic } from '../../src/baselines/logistic-regression.js';
import { createRng } from '../../src/rng.js';
import { isMrnError } from '../../src/errors.js';
import { errorOf } from './helpers/baseline-fixtures.js';

describe('logistic regression', () => {
  const rng = createRng(4);
  const x: number[][] = [];
  const y: number[] = [];
  for (let i = 0; i < 300; i++) {
    const label = i % 2;
    y.push(label);
    x.push([rng.normal(label ? 1 : 0, 1), rng.normal(0, 5), rng.normal(label ? -2 : 0, 2) + 100]);
  }

  it('reaches the penalised optimum: the gradient vanishes (KKT) on standardised features', () => {
    const l2 = 2;
    const m = fitLogisticRegression(x, y, { l2 });
    const p = predictLogistic(m, x);
    const grad = new Array(4).fill(0);
    x.forEach((row, i) => {
      const z = [...row.map((v, j) => (v - m.mean[j]!) / m.std[j]!), 1];
      z.forEach((zj, j) => (grad[j] += (p[i]! - y[i]!) * zj));
    });
    m.weights.forEach((w, j) => (grad[j] += l2 * w));
    for (const g of grad) expect(Math.abs(g)).toBeLessThan(1e-6);
    // Informative features get weight with the right sign, more than the pure-noise feature.
    expect(m.weights[0]).toBeGreaterThan(0.5);
    expect(m.weights[2]).toBeLessThan(-0.5);
    expect(Math.abs(m.weights[1]!)).toBeLessThan(Math.min(m.weights[0]!, -m.weights[2]!));
  });

  it('rejects bad input with MrnErrors', () => {
    expect(
      isMrnError(
        errorOf(() => fitLogisticRegression([], [])),
        'E_INVALID_ARGUMENT',
      ),
    ).toBe(true);
    expect(
      isMrnError(
        errorOf(() => fitLogisticRegression([[1], [1, 2]], [0, 1])),
        'E_INVALID_ARGUMENT',
      ),
    ).toBe(true);
    expect(
      isMrnError(
        errorOf(() => fitLogisticRegression([[1], [2]], [1, 1])),
        'E_INVALID_ARGUMENT',
      ),
    ).toBe(true);
    expect(
      isMrnError(
        errorOf(() => fitLogisticRegression([[1], [2]], [0, 2])),
        'E_INVALID_ARGUMENT',
      ),
    ).toBe(true);
    expect(
      isMrnError(
        errorOf(() => fitLogisticRegression([[NaN], [2]], [0, 1])),
        'E_NON_FINITE',
      ),
    ).toBe(true);
    const m = fitLogisticRegression([[1], [2], [3], [4]], [0, 0, 1, 1]);
    expect(
      isMrnError(
        errorOf(() => predictLogistic(m, [[1, 2]])),
        'E_INVALID_ARGUMENT',
      ),
    ).toBe(true);
  });
});
