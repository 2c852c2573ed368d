import { describe, expect, it } from 'vitest';
import { BASELINE_FEATURE_NAMES, extractBaselineFeatures } from '../../src/baselines/roi-features.js';
import { generateSyntheticCase } from '../../src/synth/cohort.js';
import { createVolume } from '../../src/preprocess/volume.js';
import { isMrnError } from '../../src/errors.js';
import { TIGHT_FOV, errorOf } from './helpers/baseline-fixtures.js';

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
