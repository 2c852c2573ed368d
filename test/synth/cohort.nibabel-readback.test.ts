import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeSyntheticCohort } from '../../src/synth/cohort.js';

/** What nibabel saw (test/fixtures/synth/nibabel_readback.py) in the cohort regenerated here. */
const record = JSON.parse(
  readFileSync(new URL('../fixtures/synth/readback.json', import.meta.url), 'utf8'),
) as {
  cases: Record<
    string,
    Record<
      string,
      {
        sha256: string;
        dtype: string;
        axcodes: string;
        qform_code: number;
        sform_code: number;
        qfac: number;
        qform_equals_sform: boolean;
        labels?: number[];
      }
    >
  >;
};
const tmp = mkdtempSync(join(tmpdir(), 'mrn-synth-rb-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('synthetic files read back in nibabel', () => {
  it('regenerated files are byte-identical to the ones nibabel read; nibabel saw the challenge conventions', async () => {
    await makeSyntheticCohort({ outDir: tmp, cases: 2, seed: 44, fov: 'small' });
    for (const [caseId, files] of Object.entries(record.cases)) {
      for (const [name, r] of Object.entries(files)) {
        const sha = createHash('sha256')
          .update(readFileSync(join(tmp, caseId, `${name}.nii.gz`)))
          .digest('hex');
        expect(sha, `${caseId}/${name}`).toBe(r.sha256);
        expect(r.axcodes).toBe('LAS');
        expect(r.qform_code).toBe(1);
        expect(r.sform_code).toBe(1);
        expect(r.qfac).toBe(-1);
        expect(r.qform_equals_sform).toBe(true);
        expect(r.dtype).toBe(name.endsWith('mask') ? 'uint8' : 'int16');
        if (name === 'QSM_mask') expect(r.labels).toEqual(Array.from({ length: 16 }, (_, i) => i + 1));
        if (name === 'NM_mask') expect(r.labels).toEqual([1, 2]);
      }
    }
  });
});
