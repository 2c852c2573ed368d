import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { readNifti } from '../../src/io/nifti-reader.js';
import { parseNiftiHeader } from '../../src/io/nifti-header.js';
import { QSM_NUCLEUS_NAMES } from '../../src/preprocess/nucleus-labels.js';
import { generateSyntheticCase, makeSyntheticCohort, syntheticCaseLabel } from '../../src/synth/cohort.js';
import { isMrnError } from '../../src/errors.js';

const stats = JSON.parse(
  readFileSync(new URL('../fixtures/synth/real-mask-stats.json', import.meta.url), 'utf8'),
) as {
  header: Record<
    string,
    {
      pixdim: number[];
      qform_code: number;
      sform_code: number;
      quatern: number[];
      srow: number[][];
      xyzt_units: number;
    }
  >;
};

const tmp = mkdtempSync(join(tmpdir(), 'mrn-synth-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const FILES = ['QSM.nii.gz', 'NM.nii.gz', 'QSM_mask.nii.gz', 'NM_mask.nii.gz'];
const mean = (a: number[]) => a.reduce<number>((s, v) => s + v, 0) / a.length;

describe('makeSyntheticCohort', () => {
  it('writes the challenge layout; same seed gives byte-identical files; a case does not depend on the cohort size', async () => {
    const a = await makeSyntheticCohort({ outDir: join(tmp, 'a'), cases: 3, seed: 5, fov: 'small' });
    await makeSyntheticCohort({ outDir: join(tmp, 'b'), cases: 2, seed: 5, fov: 'small' });
    await makeSyntheticCohort({ outDir: join(tmp, 'c'), cases: 1, seed: 6, fov: 'small' });
    expect(a.cases.map((x) => x.id)).toEqual(['RJPD_001', 'RJPD_002', 'RJPD_003']);
    for (const id of ['RJPD_001', 'RJPD_002']) {
      for (const f of FILES) {
        const x = readFileSync(join(tmp, 'a', id, f));
        expect(x.equals(readFileSync(join(tmp, 'b', id, f))), `${id}/${f}`).toBe(true);
      }
    }
    expect(
      readFileSync(join(tmp, 'a', 'RJPD_001', 'QSM.nii.gz')).equals(
        readFileSync(join(tmp, 'c', 'RJPD_001', 'QSM.nii.gz')),
      ),
    ).toBe(false);
    const csv = readFileSync(a.labelsCsv, 'utf8').trim().split('\n');
    expect(csv[0]).toBe('case,label');
    expect(csv.slice(1)).toEqual(a.cases.map((x) => `${x.id},${x.label}`));
    const truth = JSON.parse(readFileSync(a.truthJson, 'utf8'));
    expect(truth.options).toMatchObject({ cases: 3, seed: 5, fov: 'small', datatype: 'int16' });
    expect(truth.cases).toHaveLength(3);
    expect(truth.cases[0]).toHaveProperty('qsmPpb.SN_R');
    expect(truth.cases[0]).toHaveProperty('volumesCm3.nm.R');
    expect(truth.cases[0].label).toBe(a.cases[0]!.label);
  });

  it('files read back equal the in-memory case (int16 images, uint8 masks, same affine)', async () => {
    const mem = generateSyntheticCase(1, { cases: 3, seed: 5, fov: 'small' });
    const dir = join(tmp, 'a', 'RJPD_002');
    const qsm = await readNifti(join(dir, 'QSM.nii.gz'));
    const mask = await readNifti(join(dir, 'QSM_mask.nii.gz'));
    expect(qsm.data.data).toBeInstanceOf(Int16Array);
    expect(mask.data.data).toBeInstanceOf(Uint8Array);
    const differing = (a: ArrayLike<number>, b: ArrayLike<number>) => {
      let n = 0;
      for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) n++;
      return n;
    };
    expect(qsm.data.data.length).toBe(mem.qsm.data.data.length);
    expect(differing(qsm.data.data, mem.qsm.data.data)).toBe(0);
    expect(differing(mask.data.data, mem.qsmMask.data.data)).toBe(0);
    for (let r = 0; r < 4; r++)
      for (let c = 0; c < 4; c++) expect(qsm.affine[r]![c]!).toBeCloseTo(mem.qsm.affine[r]![c]!, 5);
  });

  it('a full-FOV mask header follows the real files: shape, pixdim, qfac -1, qform/sform codes, quaternion, srow', async () => {
    const out = join(tmp, 'full');
    await makeSyntheticCohort({ outDir: out, cases: 1, seed: 1 });
    for (const f of ['QSM_mask', 'NM_mask'] as const) {
      const bytes = gunzipSync(readFileSync(join(out, 'RJPD_001', `${f}.nii.gz`)));
      const h = parseNiftiHeader(new Uint8Array(bytes), f);
      const real = stats.header[f]!;
      const vol = await readNifti(join(out, 'RJPD_001', `${f}.nii.gz`));
      expect(vol.shape).toEqual([300, 300, 70]);
      expect(vol.data.data).toBeInstanceOf(Uint8Array);
      expect(h.datatype).toBe(2); // uint8
      h.pixdim.slice(0, 4).forEach((v, i) => expect(v).toBeCloseTo(real.pixdim[i]!, 6));
      expect(h.qformCode).toBe(real.qform_code);
      expect(h.sformCode).toBe(real.sform_code);
      expect(h.xyztUnits & 7).toBe(real.xyzt_units & 7); // spatial unit: mm
      h.quatern.forEach((v, i) => expect(Math.abs(v)).toBeCloseTo(Math.abs(real.quatern[i]!), 6));
      const srow = h.srow;
      for (let r = 0; r < 3; r++)
        for (let c = 0; c < 4; c++) expect(srow[r]![c]!).toBeCloseTo(real.srow[r]![c]!, 6);
    }
  });

  it('deals labels in blocks of 10 (balanced at 0.5, exact fraction per block)', () => {
    const labels = Array.from({ length: 40 }, (_, i) => syntheticCaseLabel(i, 9, 0.5));
    for (let b = 0; b < 4; b++)
      expect(labels.slice(b * 10, b * 10 + 10).reduce<number>((s, v) => s + v, 0)).toBe(5);
    const l3 = Array.from({ length: 20 }, (_, i) => syntheticCaseLabel(i, 9, 0.3));
    expect(l3.reduce<number>((s, v) => s + v, 0)).toBe(6);
  });

  it('rejects bad options with MrnErrors', async () => {
    await expect(makeSyntheticCohort({ outDir: '', cases: 1, seed: 1 })).rejects.toMatchObject({
      code: 'E_INVALID_ARGUMENT',
    });
    await expect(makeSyntheticCohort({ outDir: join(tmp, 'x'), cases: -2, seed: 1 })).rejects.toMatchObject({
      code: 'E_INVALID_ARGUMENT',
    });
    const blocker = join(tmp, 'a', 'train_cases.csv'); // a file where a folder should be
    const err = await makeSyntheticCohort({
      outDir: join(blocker, 'sub'),
      cases: 1,
      seed: 1,
      fov: 'small',
    }).catch((e) => e);
    expect(isMrnError(err, 'E_IO')).toBe(true);
  });
});

describe('synthetic contrast and disease', () => {
  // Eight small-FOV cases, four of each group (seed 21 deals 5 PD in the first block of 10).
  const cases = Array.from({ length: 8 }, (_, i) =>
    generateSyntheticCase(i, { cases: 8, seed: 21, fov: 'small', difficulty: 0.5 }),
  );
  const nucleusMean = (c: (typeof cases)[number], label: number) => {
    const q = c.qsm.data.data;
    const m = c.qsmMask.data.data;
    let s = 0;
    let n = 0;
    for (let v = 0; v < m.length; v++)
      if (m[v] === label) {
        s += q[v]!;
        n++;
      }
    return s / n;
  };

  it('QSM ranks nuclei like the literature (GP, SN high; CN, PUT moderate; THA near 0) and is 0 outside the brain', () => {
    const m = (name: string) =>
      mean(cases.map((c) => nucleusMean(c, QSM_NUCLEUS_NAMES.indexOf(name as never) + 1)));
    expect(m('GP_R')).toBeGreaterThan(m('PUT_R'));
    expect(m('SN_R')).toBeGreaterThan(m('CN_R'));
    expect(m('DN_R')).toBeGreaterThan(m('CN_R'));
    expect(m('PUT_R')).toBeGreaterThan(m('THA_R'));
    expect(Math.abs(m('THA_R'))).toBeLessThan(25);
    expect(cases[0]!.qsm.data.data[0]).toBe(0); // corner of the FOV: outside the brain mask
  });

  it('PD raises SN susceptibility and lowers NM-SN volume and contrast (group means, low difficulty)', () => {
    const pd = cases.filter((c) => c.label === 1);
    const hc = cases.filter((c) => c.label === 0);
    expect(pd.length).toBeGreaterThan(1);
    expect(hc.length).toBeGreaterThan(1);
    const sn = (c: (typeof cases)[number]) => (nucleusMean(c, 11) + nucleusMean(c, 12)) / 2;
    expect(mean(pd.map(sn))).toBeGreaterThan(mean(hc.map(sn)) + 10);
    const nmVol = (c: (typeof cases)[number]) => c.truth.volumesCm3.nm.R + c.truth.volumesCm3.nm.L;
    expect(mean(pd.map(nmVol))).toBeLessThan(0.85 * mean(hc.map(nmVol)));
    for (const c of hc) {
      expect(c.truth.nmVolumeLoss).toEqual({ R: 0, L: 0 });
      expect(c.truth.severity).toBe(0);
    }
    for (const c of pd) expect(c.truth.nmVolumeLoss.R + c.truth.nmVolumeLoss.L).toBeGreaterThan(0);
  });

  it('the NM-visible SN is brighter than white matter by about its contrast ratio', () => {
    for (const c of cases.slice(0, 3)) {
      const nm = c.nm.data.data;
      const mask = c.nmMask.data.data;
      let s = 0;
      let n = 0;
      for (let v = 0; v < mask.length; v++)
        if (mask[v] === 1) {
          s += nm[v]!;
          n++;
        }
      const ratio = s / n / 400 - 1;
      // Partial-volume blur and bias pull it a little towards 0.
      expect(ratio).toBeGreaterThan(0.4 * c.truth.nmContrast.R);
      expect(ratio).toBeLessThan(1.6 * c.truth.nmContrast.R + 0.05);
    }
  });

  it('difficulty scales the disease effects and the noise', () => {
    const easy = generateSyntheticCase(0, {
      cases: 1,
      seed: 3,
      fov: 'small',
      difficulty: 0.5,
      pdFraction: 1,
    });
    const hard = generateSyntheticCase(0, { cases: 1, seed: 3, fov: 'small', difficulty: 2, pdFraction: 1 });
    expect(easy.label).toBe(1);
    expect(easy.truth.nmVolumeLoss.R).toBeCloseTo(Math.min(0.8, 4 * hard.truth.nmVolumeLoss.R), 6);
    expect(hard.truth.imaging.qsmNoiseSdPpb).toBeCloseTo(4 * easy.truth.imaging.qsmNoiseSdPpb, 9);
  });
});
