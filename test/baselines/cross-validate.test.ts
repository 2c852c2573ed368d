import { describe, expect, it } from 'vitest';
import { crossValidateBaseline } from '../../src/baselines/cross-validate.js';
import { extractBaselineFeatures } from '../../src/baselines/roi-features.js';
import { generateSyntheticCase } from '../../src/synth/cohort.js';
import { isMrnError } from '../../src/errors.js';
import { TIGHT_FOV, errorOf } from './helpers/baseline-fixtures.js';

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
