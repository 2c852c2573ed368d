import { describe, expect, it } from 'vitest';
import { crossValidateBaseline } from '../../src/baselines/cross-validate.js';
import { fitLogisticRegression, predictLogistic } from '../../src/baselines/logistic-regression.js';
import { BASELINE_FEATURE_NAMES, extractBaselineFeatures } from '../../src/baselines/roi-features.js';
import { generateSyntheticCase } from '../../src/synth/cohort.js';
import { createVolume } from '../../src/preprocess/volume.js';
import { createRng } from '../../src/rng.js';
import { isMrnError } from '../../src/errors.js';

/** A crop holding every nucleus (real masks span i 103-199, j 83-211, k 8-40) with a margin: fast. */
const TIGHT_FOV = {
  shape: [112, 148, 40] as [number, number, number],
  origin: [95, 73, 4] as [number, number, number],
};

function errorOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

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

describe('baseline features', () => {
  const c = generateSyntheticCase(0, { cases: 1, seed: 8, fov: TIGHT_FOV });

  it('returns 20 named features: nucleus means match a direct computation, NM volumes match truth', () => {
    const f = extractBaselineFeatures(c);
    expect(f).toHaveLength(BASELINE_FEATURE_NAMES.length);
    const q = c.qsm.data.data;
    const m = c.qsmMask.data.data;
    let s = 0;
    let n = 0;
    for (let v = 0; v < m.length; v++)
      if (m[v] === 11) {
        s += q[v]!;
        n++;
      }
    expect(f[BASELINE_FEATURE_NAMES.indexOf('qsm_mean_SN_R')]).toBeCloseTo(s / n, 6);
    expect(f[BASELINE_FEATURE_NAMES.indexOf('nm_sn_volume_L')]).toBeCloseTo(c.truth.volumesCm3.nm.L, 6);
    const contrast = f[BASELINE_FEATURE_NAMES.indexOf('nm_sn_contrast_R')]!;
    expect(contrast).toBeGreaterThan(0.3 * c.truth.nmContrast.R);
    expect(contrast).toBeLessThan(1.7 * c.truth.nmContrast.R + 0.05);
  });

  it('names grid mismatches and missing labels', () => {
    const small = createVolume(new Uint8Array(8), [2, 2, 2], c.qsm.affine, 'tiny');
    expect(
      isMrnError(
        errorOf(() => extractBaselineFeatures({ ...c, nmMask: small })),
        'E_GRID_MISMATCH',
      ),
    ).toBe(true);
    const noRn = new Uint8Array(c.qsmMask.data.data);
    for (let v = 0; v < noRn.length; v++) if (noRn[v] === 13) noRn[v] = 0;
    const err = errorOf(() =>
      extractBaselineFeatures(
        { ...c, qsmMask: createVolume(noRn, c.qsmMask.shape, c.qsmMask.affine, 'm') },
        { caseId: 'X' },
      ),
    );
    expect(isMrnError(err, 'E_LABEL_MISSING')).toBe(true);
    expect((err as Error).message).toMatch(/label 13 \(RN_R\)/);
    const noNm = createVolume(
      new Uint8Array(c.nmMask.data.data.length),
      c.nmMask.shape,
      c.nmMask.affine,
      'n',
    );
    expect(
      isMrnError(
        errorOf(() => extractBaselineFeatures({ ...c, nmMask: noNm })),
        'E_LABEL_MISSING',
      ),
    ).toBe(true);
  });
});

describe('baseline on a small default-difficulty cohort', () => {
  it('5-fold CV accuracy of 60 cases lies in a loose band around the calibrated 70-80% (60-92%)', () => {
    const samples = Array.from({ length: 60 }, (_, i) => {
      const c = generateSyntheticCase(i, { cases: 60, seed: 1, fov: TIGHT_FOV });
      return { id: c.id, label: c.label, features: extractBaselineFeatures(c) };
    });
    const r = crossValidateBaseline(samples, { folds: 5, seed: 0 });
    expect(r.n).toBe(60);
    expect(r.foldAccuracy).toHaveLength(5);
    expect(r.accuracy).toBeGreaterThanOrEqual(0.6);
    expect(r.accuracy).toBeLessThanOrEqual(0.92);
    expect(r.auc).toBeGreaterThan(0.65);
    expect(
      isMrnError(
        errorOf(() => crossValidateBaseline(samples.slice(0, 3))),
        'E_TOO_FEW_CASES',
      ),
    ).toBe(true);
  });
});
