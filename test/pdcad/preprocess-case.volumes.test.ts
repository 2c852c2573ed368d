/**
 * preprocessVolumes, the in-memory core of preprocessCase: the same volumes give the same bytes as
 * preprocessCase on their files (whether read from paths or decoded from bytes, as a browser does),
 * the QSM mask's SN standing in included; a missing volume is named.
 */
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decodeNifti,
  loadPdcadCases,
  MRN_ROIS,
  PDCAD_FILE_ROLES,
  preprocessCase,
  preprocessVolumes,
  readNifti,
  type PdcadCase,
  type PdcadCohort,
  type PdcadFileRole,
  type Volume,
} from '../../src/index.js';
import { phantomVolumes, writeLabels, writePhantomCase } from './pdcad-phantom.js';

let root: string;
let cohort: PdcadCohort;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'mrn-preprocess-volumes-'));
  const dir = join(root, 'train');
  await writePhantomCase(dir, 'RJPD_001');
  const noNmSn = phantomVolumes();
  noNmSn.NM_mask.data.data.fill(0);
  await writePhantomCase(dir, 'RJPD_010', noNmSn); // NM mask empty: the QSM SN stands in
  await writeLabels(join(root, 'train.csv'), [
    ['RJPD_001', 1],
    ['RJPD_010', 0],
  ]);
  cohort = await loadPdcadCases(dir, { labels: join(root, 'train.csv') });
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** The case's four volumes decoded from the files' bytes (what a page does with dropped files). */
async function decodedVolumes(c: PdcadCase): Promise<Record<PdcadFileRole, Volume>> {
  const out = {} as Record<PdcadFileRole, Volume>;
  for (const role of PDCAD_FILE_ROLES)
    out[role] = decodeNifti(await readFile(c.files[role]), { name: c.files[role] });
  return out;
}

describe('preprocessVolumes', () => {
  it('gives exactly what preprocessCase gives on the same files (read from paths or decoded from bytes)', async () => {
    for (const c of cohort.cases) {
      const fromFiles = await preprocessCase(c, { size: 24 });
      const read = {} as Record<PdcadFileRole, Volume>;
      for (const role of PDCAD_FILE_ROLES) read[role] = await readNifti(c.files[role]);
      const fromRead = preprocessVolumes({ id: c.id, label: c.label, volumes: read }, { size: 24 });
      const fromBytes = preprocessVolumes(
        { id: c.id, label: c.label, volumes: await decodedVolumes(c) },
        { size: 24 },
      );
      expect(fromRead).toEqual(fromFiles);
      expect(fromBytes).toEqual(fromFiles);
      expect(fromFiles.rois).toHaveLength(MRN_ROIS.length);
      expect(fromFiles.label).toBe(c.label);
    }
    const fallback = preprocessVolumes({
      id: 'RJPD_010',
      volumes: await decodedVolumes(cohort.cases.find((c) => c.id === 'RJPD_010')!),
    });
    expect(fallback.nmMaskFromQsm).toBe(true);
    expect(fallback.label).toBeUndefined();
  });

  it('needs only the volumes its ROIs use, and names a missing one with the case', async () => {
    const c = cohort.cases.find((x) => x.id === 'RJPD_001')!;
    const all = await decodedVolumes(c);
    const nmOnly = { rois: MRN_ROIS.filter((r) => r.image === 'NM'), size: 16 };
    const out = preprocessVolumes(
      { id: c.id, label: c.label, volumes: { NM: all.NM, NM_mask: all.NM_mask } },
      nmOnly,
    );
    expect(out.rois.map((r) => r.roiId)).toEqual(nmOnly.rois.map((r) => r.id));
    expect(out).toEqual(await preprocessCase(c, nmOnly));
    expect(() => preprocessVolumes({ id: c.id, volumes: { ...all, QSM_mask: undefined } })).toThrow(
      expect.objectContaining({ code: 'E_INVALID_ARGUMENT', caseId: 'RJPD_001' }),
    );
    expect(() => preprocessVolumes({ id: c.id, volumes: { ...all, QSM_mask: undefined } })).toThrow(
      /lacks its QSM_mask volume/,
    );
  });
});
