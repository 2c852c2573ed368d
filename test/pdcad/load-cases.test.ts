/**
 * loadPdcadCases on a cohort of phantom cases, one per way a case can fail or warn: each bad case is
 * excluded with its id and reason, warnings keep the case, records hold paths and geometry only.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVolume, loadPdcadCases, type PdcadCohort } from '../../src/index.js';
import { PHANTOM_AFFINE, phantomVolumes, writeLabels, writePhantomCase } from './pdcad-phantom.js';

let root: string;
let cohort: PdcadCohort;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'mrn-pdcad-'));
  const dir = join(root, 'train');
  await writePhantomCase(dir, 'RJPD_001');
  await writePhantomCase(dir, 'RJPD_002');
  await writePhantomCase(dir, 'RJPD_003', phantomVolumes(), ['NM']); // missing file
  const shifted = phantomVolumes();
  shifted.NM = createVolume(
    shifted.NM.data.data,
    shifted.NM.shape,
    PHANTOM_AFFINE.map((r, i) => (i === 1 ? [r[0]!, r[1]!, r[2]!, r[3]! + 1.5] : r)),
  );
  await writePhantomCase(dir, 'RJPD_004', shifted); // QSM/NM grid mismatch
  const nan = phantomVolumes();
  nan.QSM.data.data[100] = NaN;
  nan.QSM.data.data[200] = NaN;
  await writePhantomCase(dir, 'RJPD_005', nan); // NaN voxels
  await writePhantomCase(dir, 'RJPD_006', phantomVolumes([12])); // left QSM SN missing: warning
  const truncated = await writePhantomCase(dir, 'RJPD_007');
  await writeFile(join(truncated, 'QSM_mask.nii.gz'), Buffer.from([0x1f, 0x8b, 8, 0, 0, 0])); // corrupt
  await writePhantomCase(dir, 'RJPD_008'); // not in the CSV
  await writePhantomCase(dir, 'RJPD_009', phantomVolumes([15, 16])); // qsm-dn has no label at all
  const noNmSn = phantomVolumes();
  noNmSn.NM_mask.data.data.fill(0);
  await writePhantomCase(dir, 'RJPD_010', noNmSn); // NM mask empty: the QSM SN stands in (warning)
  const noSnAtAll = phantomVolumes([11, 12]);
  noSnAtAll.NM_mask.data.data.fill(0);
  await writePhantomCase(dir, 'RJPD_011', noSnAtAll); // no SN anywhere: error
  await mkdir(join(dir, 'notes')); // not a case
  await writeLabels(join(root, 'train.csv'), [
    ['RJPD_001', 1],
    ['RJPD_002', 0],
    ['RJPD_003', 1],
    ['RJPD_004', 0],
    ['RJPD_005', 1],
    ['RJPD_006', 0],
    ['RJPD_007', 1],
    ['RJPD_009', 0],
    ['RJPD_010', 1],
    ['RJPD_011', 0],
    ['RJPD_099', 1],
  ]);
  cohort = await loadPdcadCases(dir, { labels: join(root, 'train.csv') });
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('loadPdcadCases', () => {
  it('loads the good cases and excludes each bad one with its id and reason', () => {
    expect(cohort.cases.map((c) => c.id)).toEqual([
      'RJPD_001',
      'RJPD_002',
      'RJPD_006',
      'RJPD_008',
      'RJPD_010',
    ]);
    expect(cohort.excluded).toEqual([
      'RJPD_003',
      'RJPD_004',
      'RJPD_005',
      'RJPD_007',
      'RJPD_009',
      'RJPD_011',
      'RJPD_099',
    ]);
    const errors = (id: string) => cohort.problems.filter((p) => p.caseId === id && p.severity === 'error');
    expect(errors('RJPD_003').map((p) => [p.code, p.reason])).toEqual([
      ['E_FILE_NOT_FOUND', 'missing NM.nii.gz'],
    ]);
    expect(errors('RJPD_004')[0]!.code).toBe('E_GRID_MISMATCH');
    expect(errors('RJPD_004')[0]!.reason).toMatch(
      /QSM\.nii\.gz and .*RJPD_004.NM\.nii\.gz are not on the same voxel grid: corner voxels are up to 1\.50 mm apart/,
    );
    expect(errors('RJPD_005')[0]!.code).toBe('E_NON_FINITE');
    expect(errors('RJPD_005')[0]!.reason).toMatch(/QSM\.nii\.gz has 2 NaN\/Inf voxels/);
    expect(errors('RJPD_007')[0]!.code).toMatch(/^E_NIFTI_/);
    expect(errors('RJPD_007')[0]!.file).toMatch(/RJPD_007.QSM_mask\.nii\.gz$/);
    expect(errors('RJPD_009').map((p) => p.code)).toEqual(['E_LABEL_MISSING']);
    expect(errors('RJPD_009')[0]!.reason).toMatch(/ROI qsm-dn/);
    expect(errors('RJPD_011')[0]!.reason).toMatch(/ROI nm-sn: NM_mask\.nii\.gz has none of its labels/);
    expect(errors('RJPD_099')[0]!.reason).toMatch(/listed in train\.csv but there is no case folder/);
    // Every excluded case has at least one error; no kept case has one.
    for (const id of cohort.excluded) expect(errors(id).length).toBeGreaterThan(0);
    for (const c of cohort.cases) expect(errors(c.id)).toEqual([]);
  });

  it('keeps a case with a missing nucleus as a warning naming the fallback', () => {
    const c = cohort.cases.find((x) => x.id === 'RJPD_006')!;
    expect(c.missingLabels).toEqual({ QSM_mask: [12], NM_mask: [] });
    expect(c.warnings).toHaveLength(1);
    expect(c.warnings[0]).toMatchObject({
      caseId: 'RJPD_006',
      severity: 'warning',
      code: 'W_NUCLEUS_MISSING',
    });
    expect(c.warnings[0]!.reason).toMatch(/ROI qsm-mb: label 12 .* mirrors label 11/);
  });

  it('records labels, paths and geometry but no voxels; unlisted folders get label undefined', () => {
    const byId = new Map(cohort.cases.map((c) => [c.id, c]));
    expect(byId.get('RJPD_001')!.label).toBe(1);
    expect(byId.get('RJPD_002')!.label).toBe(0);
    expect(byId.get('RJPD_008')!.label).toBeUndefined();
    expect(cohort.problems.find((p) => p.caseId === 'RJPD_008')!.severity).toBe('warning');
    const g = byId.get('RJPD_001')!.geometry;
    expect(g.shape).toEqual([48, 48, 16]);
    expect(g.orientation).toBe('LAS');
    expect(g.spacing[2]).toBeCloseTo(2, 5);
    expect(byId.get('RJPD_001')!.files.QSM).toMatch(/RJPD_001.QSM\.nii\.gz$/);
    expect(byId.get('RJPD_001')!.fileStats.QSM.size).toBeGreaterThan(0);
    expect(JSON.stringify(byId.get('RJPD_001')).length).toBeLessThan(5000);
  });

  it('loads a test set without a CSV with every label undefined, and reports a missing folder', async () => {
    const { cases, problems } = await loadPdcadCases(join(root, 'train'), { concurrency: 1 });
    expect(cases.map((c) => c.id)).toEqual(['RJPD_001', 'RJPD_002', 'RJPD_006', 'RJPD_008', 'RJPD_010']);
    expect(cases.every((c) => c.label === undefined)).toBe(true);
    expect(problems.some((p) => p.caseId === 'RJPD_008')).toBe(false);
    await expect(loadPdcadCases(join(root, 'nope'))).rejects.toMatchObject({ code: 'E_FILE_NOT_FOUND' });
    await expect(
      loadPdcadCases(join(root, 'train'), { labels: join(root, 'nope.csv') }),
    ).rejects.toMatchObject({
      code: 'E_FILE_NOT_FOUND',
    });
  });
});
