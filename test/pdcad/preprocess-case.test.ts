/**
 * preprocessCase on validated phantom cases: four ROI stacks with masks, valid flags and physical
 * intensities; the crop's mirror fallback; the QSM mask's SN standing in for an empty NM mask.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  loadPdcadCases,
  MRN_ROIS,
  preprocessCase,
  QSM_WINDOW_PPB,
  type PdcadCohort,
} from '../../src/index.js';
import { phantomVolumes, writeLabels, writePhantomCase } from './pdcad-phantom.js';

let root: string;
let cohort: PdcadCohort;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'mrn-preprocess-'));
  const dir = join(root, 'train');
  await writePhantomCase(dir, 'RJPD_001');
  await writePhantomCase(dir, 'RJPD_006', phantomVolumes([12])); // left QSM SN missing: warning
  const noNmSn = phantomVolumes();
  noNmSn.NM_mask.data.data.fill(0);
  await writePhantomCase(dir, 'RJPD_010', noNmSn); // NM mask empty: the QSM SN stands in (warning)
  await writeLabels(join(root, 'train.csv'), [
    ['RJPD_001', 1],
    ['RJPD_006', 0],
    ['RJPD_010', 1],
  ]);
  cohort = await loadPdcadCases(dir, { labels: join(root, 'train.csv') });
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('preprocessCase', () => {
  it('turns a case into four ROI stacks with masks, valid flags and physical intensities', async () => {
    const c = cohort.cases[0]!;
    const out = await preprocessCase(c, { size: 32 });
    expect(out.caseId).toBe('RJPD_001');
    expect(out.label).toBe(1);
    expect(out.nmReference).toMatchObject({ value: 100, method: 'crus-cerebri' });
    expect(out.rois.map((r) => r.roiId)).toEqual(MRN_ROIS.map((r) => r.id));
    for (const [n, r] of out.rois.entries()) {
      const roi = MRN_ROIS[n]!;
      expect(r.slices).toHaveLength(roi.slices * 32 * 32);
      expect(r.masks).toHaveLength(roi.slices * 32 * 32);
      expect(r.valid).toHaveLength(roi.slices);
      expect(r.report.cutLabelVoxels).toBe(0);
      expect([...new Set(r.masks)].sort()).toEqual(roi.classes.map((_, i) => i));
      expect(Math.min(...r.slices)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...r.slices)).toBeLessThanOrEqual(1);
    }
    // Where the qsm-mb mask says SN (class 2), the image holds the SN's 150 ppb through the window.
    const mb = out.rois[2]!;
    const [lo, hi] = QSM_WINDOW_PPB;
    let seen = 0;
    for (let p = 0; p < mb.masks.length; p++) {
      if (mb.masks[p] === 2 && mb.slices[p]! > 0.5) {
        seen++;
        expect(mb.slices[p]).toBeCloseTo((150 - lo) / (hi - lo), 1);
      }
    }
    expect(seen).toBeGreaterThan(0);
    // NM SN (130 / 100 = ratio 1.3) through the [0.5, 1.5] window: 0.8 at SN centres.
    const sn = out.rois[0]!;
    expect(Math.max(...sn.slices)).toBeCloseTo(0.8, 5);
  });

  it('reports the mirror fallback for the case with a missing nucleus', async () => {
    const c = cohort.cases.find((x) => x.id === 'RJPD_006')!;
    const out = await preprocessCase(c, { size: 16 });
    expect(out.rois[2]!.report.fallbacks).toEqual([{ label: 12, strategy: 'mirror', from: 11 }]);
  });

  it('takes the SN from the QSM mask when the NM mask has none, and reports it', async () => {
    const c = cohort.cases.find((x) => x.id === 'RJPD_010')!;
    expect(c.warnings.map((w) => w.reason)).toEqual([
      "ROI nm-sn: NM_mask.nii.gz has none of its labels [1,2]; the QSM mask's SN [11,12] is used instead (co-registered)",
    ]);
    const out = await preprocessCase(c, { size: 16 });
    expect(out.nmMaskFromQsm).toBe(true);
    expect(out.nmReference).toMatchObject({ value: 100, method: 'crus-cerebri' });
    const good = await preprocessCase(cohort.cases[0]!, { size: 16 });
    expect(good.nmMaskFromQsm).toBeUndefined();
    expect(out.rois[0]!.masks).toEqual(good.rois[0]!.masks); // the phantom's NM SN is the QSM SN
    await expect(preprocessCase(c, { size: 16, nmMaskFromQsm: false })).rejects.toMatchObject({
      code: 'E_LABEL_MISSING',
      caseId: 'RJPD_010',
    });
  });
});
