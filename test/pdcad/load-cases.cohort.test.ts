/**
 * How a cohort folder is found and judged as a whole: splits made of symlinks, CSV labels other than
 * 0/1, the warning codes, and `mrn train` refusing (exit 5) a cohort with too few usable cases.
 */

import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/run-cli.js';
import {
  createVolume,
  crossValidateBaseline,
  loadPdcadCases,
  MRN_ERROR_CODES,
  PDCAD_PROBLEM_CODES,
  type PdcadProblem,
  type PdcadWarningCode,
} from '../../src/index.js';
import { captureIO } from '../helpers/cli-io.js';
import { phantomVolumes, writeLabels, writePhantomCase } from './pdcad-phantom.js';

let root: string;
let all: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'mrn-cohort-'));
  all = join(root, 'all');
  for (const id of ['RJPD_001', 'RJPD_002', 'RJPD_003', 'RJPD_004']) await writePhantomCase(all, id);
  const ppm = phantomVolumes();
  for (let p = 0; p < ppm.QSM.data.data.length; p++) ppm.QSM.data.data[p]! /= 1000;
  await writePhantomCase(all, 'RJPD_005', ppm); // QSM stored in ppm: a warning
  const fractional = phantomVolumes();
  const floatMask = Float32Array.from(fractional.NM_mask.data.data);
  floatMask[0] = 2.5; // a resampled mask: non-label values get rounded
  await writePhantomCase(all, 'RJPD_006', {
    ...fractional,
    NM_mask: createVolume(floatMask, fractional.NM_mask.shape, fractional.NM_mask.affine) as never,
  });
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const errorsOf = (problems: PdcadProblem[], id: string) =>
  problems.filter((p) => p.caseId === id && p.severity === 'error');

describe('loadPdcadCases on a split made of symlinks', () => {
  it('follows links to case folders and to files (relative and absolute targets)', async () => {
    const split = join(root, 'split-links');
    await mkdir(split);
    await symlink('../all/RJPD_001', join(split, 'RJPD_001')); // relative folder link
    await symlink(join(all, 'RJPD_002'), join(split, 'RJPD_002')); // absolute folder link
    await mkdir(join(split, 'RJPD_003')); // a real folder of file links
    await symlink('../../all/RJPD_003/QSM.nii.gz', join(split, 'RJPD_003', 'QSM.nii.gz'));
    await symlink('../../all/RJPD_003/QSM_mask.nii.gz', join(split, 'RJPD_003', 'QSM_mask.nii.gz'));
    await symlink(join(all, 'RJPD_003', 'NM.nii.gz'), join(split, 'RJPD_003', 'NM.nii.gz'));
    await symlink(join(all, 'RJPD_003', 'NM_mask.nii.gz'), join(split, 'RJPD_003', 'NM_mask.nii.gz'));
    await symlink('../all/RJPD_004', join(split, 'case-four')); // a link not named RJPD_*
    await writeLabels(join(root, 'split-links.csv'), [
      ['RJPD_001', 1],
      ['RJPD_002', 0],
      ['RJPD_003', 1],
      ['case-four', 0],
    ]);
    const cohort = await loadPdcadCases(split, { labels: join(root, 'split-links.csv') });
    expect(cohort.problems.filter((p) => p.severity === 'error')).toEqual([]);
    expect(cohort.cases.map((c) => [c.id, c.label])).toEqual([
      ['RJPD_001', 1],
      ['RJPD_002', 0],
      ['RJPD_003', 1],
      ['case-four', 0],
    ]);
    // The case keeps the path the user gave (the link), not the target.
    expect(cohort.cases[0]!.files.QSM).toBe(join(split, 'RJPD_001', 'QSM.nii.gz'));
    expect(cohort.cases[2]!.fileStats.QSM.size).toBeGreaterThan(1000); // the target's size, not the link's
    expect(cohort.caseFolders).toBe(4);
    expect(cohort.csvRows).toBe(4);
  });

  it('reports a dangling link and a link loop as errors of their case, without hanging', async () => {
    const split = join(root, 'split-broken');
    await mkdir(split);
    await symlink('../all/RJPD_001', join(split, 'RJPD_001'));
    await symlink('../all/RJPD_404', join(split, 'RJPD_404')); // dangling folder link
    await symlink('RJPD_loop_b', join(split, 'RJPD_loop_a')); // a -> b -> a
    await symlink('RJPD_loop_a', join(split, 'RJPD_loop_b'));
    await mkdir(join(split, 'RJPD_002'));
    for (const f of ['NM', 'QSM_mask', 'NM_mask']) {
      await symlink(join(all, 'RJPD_002', `${f}.nii.gz`), join(split, 'RJPD_002', `${f}.nii.gz`));
    }
    await symlink(join(all, 'RJPD_002', 'gone.nii.gz'), join(split, 'RJPD_002', 'QSM.nii.gz')); // dangling file
    await mkdir(join(split, 'RJPD_003'));
    for (const f of ['NM', 'QSM_mask', 'NM_mask']) {
      await symlink(join(all, 'RJPD_003', `${f}.nii.gz`), join(split, 'RJPD_003', `${f}.nii.gz`));
    }
    await symlink('QSM.nii.gz', join(split, 'RJPD_003', 'QSM.nii.gz')); // a file link to itself
    const t0 = Date.now();
    const cohort = await loadPdcadCases(split);
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(cohort.cases.map((c) => c.id)).toEqual(['RJPD_001']);
    expect(cohort.excluded).toEqual(['RJPD_002', 'RJPD_003', 'RJPD_404', 'RJPD_loop_a', 'RJPD_loop_b']);
    const [dangling] = errorsOf(cohort.problems, 'RJPD_404');
    expect(dangling).toMatchObject({ code: 'E_LINK_BROKEN', file: join(split, 'RJPD_404') });
    expect(dangling!.reason).toMatch(/symlink to '\.\.\/all\/RJPD_404', which does not exist/);
    const [loop] = errorsOf(cohort.problems, 'RJPD_loop_a');
    expect(loop).toMatchObject({ code: 'E_LINK_BROKEN' });
    expect(loop!.reason).toMatch(/symlink loop/);
    const [file] = errorsOf(cohort.problems, 'RJPD_002');
    expect(file).toMatchObject({ code: 'E_LINK_BROKEN', file: join(split, 'RJPD_002', 'QSM.nii.gz') });
    expect(file!.reason).toMatch(/QSM\.nii\.gz is a symlink to '.*gone\.nii\.gz', which does not exist/);
    expect(errorsOf(cohort.problems, 'RJPD_003')[0]!.reason).toMatch(/QSM\.nii\.gz is a symlink loop/);
  });
});

describe('class labels in the CSV', () => {
  it('excludes a case with label 2 at load, naming the case, the row and the value', async () => {
    await writeLabels(join(root, 'two.csv'), [
      ['RJPD_001', 1],
      ['RJPD_002', 2],
    ]);
    const cohort = await loadPdcadCases(all, { labels: join(root, 'two.csv') });
    expect(cohort.cases.map((c) => c.id)).not.toContain('RJPD_002');
    expect(cohort.excluded).toContain('RJPD_002');
    expect(errorsOf(cohort.problems, 'RJPD_002')).toEqual([
      {
        caseId: 'RJPD_002',
        severity: 'error',
        code: 'E_CLASS_LABEL_INVALID',
        row: 3,
        reason: expect.stringMatching(
          /two\.csv:3: case RJPD_002 has label '2'; labels must be 0 \(HC\) or 1 \(PD\)/,
        ),
        file: join(root, 'two.csv'),
      },
    ]);
  });
});

describe('problem codes', () => {
  it('gives data warnings their own codes and lists every code with its severity', async () => {
    const cohort = await loadPdcadCases(all, { labels: join(root, 'two.csv') });
    const warnings = cohort.problems.filter((p) => p.severity === 'warning');
    expect(warnings.length).toBeGreaterThan(0);
    for (const w of warnings) {
      expect(w.code).toMatch(/^W_/);
      expect(PDCAD_PROBLEM_CODES[w.code as PdcadWarningCode].severity).toBe('warning');
    }
    expect(warnings.find((w) => w.caseId === 'RJPD_005')!.code).toBe('W_QSM_LOOKS_PPM');
    expect(warnings.find((w) => w.caseId === 'RJPD_003')!.code).toBe('W_CASE_NOT_IN_CSV');
    expect(warnings.filter((w) => w.caseId === 'RJPD_006').map((w) => w.code)).toEqual([
      'W_MASK_VALUES_ROUNDED',
      'W_CASE_NOT_IN_CSV',
    ]);
    // Every error code a problem can carry is an MrnError code (the CLI maps it to an exit code).
    for (const [code, { severity }] of Object.entries(PDCAD_PROBLEM_CODES)) {
      if (severity === 'error') expect(MRN_ERROR_CODES).toHaveProperty(code);
      else expect(code).toMatch(/^W_/);
    }
  });
});

describe('mrn train with too few usable cases', () => {
  const train = async (data: string, labels: string, folds: number) => {
    const c = captureIO();
    const code = await runCli(['train', '--data', data, '--labels', labels, '--folds', String(folds)], c.io);
    return { code, err: c.err.join('\n') };
  };

  it('exits 5 with one message naming the folder, the folder and row counts and the skip reasons', async () => {
    const empty = join(root, 'empty');
    await mkdir(empty);
    await writeLabels(join(root, 'empty.csv'), [
      ['RJPD_001', 1],
      ['RJPD_002', 0],
      ['RJPD_003', 7],
    ]);
    const { code, err } = await train(empty, join(root, 'empty.csv'), 5);
    expect(code).toBe(5);
    expect(err).not.toMatch(/stratifiedKFold/);
    const line = err.split('\n').find((l) => l.startsWith('mrn train:'))!;
    expect(line).toContain(empty);
    expect(line).toMatch(/^mrn train: too few usable cases in /);
    expect(line).toMatch(/0 usable labelled cases \(0 PD, 0 HC\) from 0 case folders and 3 CSV rows/);
    expect(line).toMatch(/skipped: 2 E_FILE_NOT_FOUND, 1 E_CLASS_LABEL_INVALID/);
    expect(line).toMatch(/\[E_TOO_FEW_CASES\]$/);
  });

  it('exits 5 when fewer cases than folds remain, or fewer than needed per class', async () => {
    const split = join(root, 'split-two');
    await mkdir(split);
    await symlink('../all/RJPD_001', join(split, 'RJPD_001'));
    await symlink('../all/RJPD_002', join(split, 'RJPD_002'));
    await writeLabels(join(root, 'split-two.csv'), [
      ['RJPD_001', 1],
      ['RJPD_002', 0],
    ]);
    const fewer = await train(split, join(root, 'split-two.csv'), 5);
    expect(fewer.code).toBe(5);
    expect(fewer.err).toMatch(/2 usable labelled cases \(1 PD, 1 HC\) from 2 case folders and 2 CSV rows/);
    expect(fewer.err).toMatch(/5-fold cross-validation needs at least 6 cases and 3 per class/);

    await writeLabels(join(root, 'one-class.csv'), [
      ['RJPD_001', 1],
      ['RJPD_002', 1],
      ['RJPD_003', 1],
      ['RJPD_004', 1],
    ]);
    const oneClass = await train(all, join(root, 'one-class.csv'), 1);
    expect(oneClass.code).toBe(5);
    expect(oneClass.err).toMatch(/4 usable labelled cases \(4 PD, 0 HC\) from 6 case folders and 4 CSV rows/);
    expect(oneClass.err).toMatch(/training one model needs at least 2 cases of each class/);
  });
});

describe('mrn baseline with too few usable cases', () => {
  it('exits 5 (E_TOO_FEW_CASES), not 2, for an empty cohort and for fewer cases than folds', async () => {
    const empty = join(root, 'empty-baseline');
    await mkdir(empty);
    await writeLabels(join(root, 'empty-baseline.csv'), [['RJPD_001', 1]]);
    const c = captureIO();
    const code = await runCli(
      ['baseline', '--data', empty, '--labels', join(root, 'empty-baseline.csv')],
      c.io,
    );
    expect(code).toBe(5);
    expect(c.err.join('\n')).toMatch(
      /only 0 labelled usable case\(s\) in .*empty-baseline.*\[E_TOO_FEW_CASES\]/,
    );
    expect(() => crossValidateBaseline([], { folds: 5 })).toThrowError(
      expect.objectContaining({ code: 'E_TOO_FEW_CASES' }),
    );
  });
});

describe('a cohort folder of files only', () => {
  it('counts no case folder in a folder without sub-folders', async () => {
    const flat = join(root, 'flat');
    await mkdir(flat);
    await writeFile(join(flat, 'README.txt'), 'nothing here');
    const cohort = await loadPdcadCases(flat);
    expect(cohort.caseFolders).toBe(0);
    expect(cohort.csvRows).toBeUndefined();
    expect(cohort.cases).toEqual([]);
  });
});
