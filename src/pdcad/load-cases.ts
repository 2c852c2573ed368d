/**
 * Loading a PDCADxFoundation cohort: one folder per case (`RJPD_###/` with `QSM.nii.gz`, `NM.nii.gz`,
 * `QSM_mask.nii.gz`, `NM_mask.nii.gz`) and a `case,label` CSV (1 = PD, 0 = HC).
 *
 * {@link loadPdcadCases} finds and validates the cases and returns records holding paths and
 * validated geometry, never voxels (200 cases of four float volumes would not fit in memory). Every
 * problem is reported per case with a severity: `error` excludes the case, `warning` keeps it. A bad
 * case never takes the others down, and no case disappears without a problem saying why.
 */

import type { Dirent } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { MrnError } from '../errors.js';
import { MRN_ROIS, validateRoi, type RoiDefinition } from '../preprocess/roi-definitions.js';
import { discoverCaseFolders } from './discover.js';
import { parsePdcadLabels } from './labels-csv.js';
import type { PdcadCase, PdcadProblem } from './pdcad-case.js';
import { validateCase } from './validate-case.js';

/** Options of {@link loadPdcadCases}. */
export interface LoadPdcadOptions {
  /** The `case,label` CSV. Without it every case has `label: undefined`. */
  labels?: string;
  /** The ROIs whose labels must be present (default {@link MRN_ROIS}). */
  rois?: readonly RoiDefinition[];
  /** Cases validated at once (default 2: each holds four volumes in memory while it is checked). */
  concurrency?: number;
  /** Called after each case with its id and how many are done, for progress display. */
  onCase?: (caseId: string, done: number, total: number) => void;
}

/** What {@link loadPdcadCases} found. */
export interface PdcadCohort {
  /** Valid cases (warnings allowed), sorted by id. */
  cases: PdcadCase[];
  /** Every problem, errors and warnings, in case order. */
  problems: PdcadProblem[];
  /** Ids of the cases excluded by an error, sorted. */
  excluded: string[];
  /** How many case folders (or links to them, or broken links) the folder holds. */
  caseFolders: number;
  /** How many data rows the labels CSV has (blank and comment lines and the header not counted); `undefined` without a CSV. */
  csvRows?: number;
}

/** The labels CSV once read: labels by case id, its data rows, its bad rows as cohort problems. */
interface LabelsCsv {
  file: string;
  labels: Map<string, number>;
  rows: number;
  problems: PdcadProblem[];
}

/** The outcome of validating one case. */
interface CaseResult {
  record?: PdcadCase;
  problems: PdcadProblem[];
}

/**
 * Finds, labels and validates the cases of a PDCAD-style folder.
 *
 * A case is a sub-folder named `RJPD_*` or any sub-folder holding at least one of the four files.
 * Per case: all four files present (`.nii.gz` or `.nii`), readable, on the same voxel grid, without
 * NaN/Inf voxels, and every label the ROIs need present. Missing files, unreadable files, grid
 * mismatches, non-finite voxels and ROIs with no label at all are errors (case excluded); a nucleus
 * missing on one side, a QSM that looks like ppm, or a folder absent from the CSV are warnings (case
 * kept). CSV rows without a folder are errors under the CSV's case id.
 *
 * @throws MrnError `E_FILE_NOT_FOUND` when `dir` or the labels CSV does not exist (nothing to report
 *   per case then); per-case failures are never thrown.
 *
 * @example
 * ```ts
 * const { cases, problems, excluded } = await loadPdcadCases('PDCAD/train', { labels: 'PDCAD/train.csv' });
 * for (const p of problems) console.warn(`${p.severity} ${p.caseId}: ${p.reason}`);
 * ```
 */
export async function loadPdcadCases(dir: string, options: LoadPdcadOptions = {}): Promise<PdcadCohort> {
  const rois = (options.rois ?? MRN_ROIS).map(validateRoi);
  const concurrency = Math.max(1, Math.floor(options.concurrency ?? 2));
  const entries = await listCohortFolder(dir);
  const csv = options.labels !== undefined ? await readLabelsCsv(options.labels) : undefined;
  const { candidates, brokenLinks } = await discoverCaseFolders(dir, entries);
  const validate = async (id: string) => validateCase(id, join(dir, id), csv?.labels.get(id), rois);
  const results = await validateAll(candidates, validate, concurrency, options.onCase);

  const problems = csv?.problems ?? [];
  const { cases, excluded } = mergeCaseResults(candidates, results, problems, csv);
  for (const p of brokenLinks) {
    problems.push(p);
    excluded.push(p.caseId);
  }
  if (csv) {
    const found = new Set([...candidates, ...brokenLinks.map((p) => p.caseId)]);
    for (const p of csvRowsWithoutFolder(dir, csv, found)) {
      problems.push(p);
      excluded.push(p.caseId);
    }
  }
  return {
    cases,
    problems,
    excluded: [...new Set(excluded)].sort(),
    caseFolders: candidates.length + brokenLinks.length,
    ...(csv ? { csvRows: csv.rows } : {}),
  };
}

/** The entries of the cohort folder; `E_FILE_NOT_FOUND` when it cannot be listed. */
async function listCohortFolder(dir: string): Promise<Dirent[]> {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch (e) {
    throw new MrnError(
      'E_FILE_NOT_FOUND',
      `loadPdcadCases: cannot list the cohort folder: ${(e as Error).message}`,
      {
        file: dir,
        cause: e,
      },
    );
  }
}

/** Reads and parses the labels CSV; its bad rows become errors under their case id (or row). */
async function readLabelsCsv(file: string): Promise<LabelsCsv> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new MrnError(
      'E_FILE_NOT_FOUND',
      `loadPdcadCases: cannot read the labels CSV: ${(e as Error).message}`,
      {
        file,
        cause: e,
      },
    );
  }
  const parsed = parsePdcadLabels(text, file);
  const problems: PdcadProblem[] = parsed.problems.map((p) => ({
    caseId: p.caseId ?? `(${basename(file)} row ${p.row})`,
    severity: 'error',
    code: p.code,
    reason: p.reason,
    file,
    row: p.row,
  }));
  return { file, labels: parsed.labels, rows: parsed.rows, problems };
}

/**
 * Validates the cases `concurrency` at a time, results in the order of `ids`. An unexpected failure
 * (a bug) in one case becomes its `E_CASE_INVALID` problem: it must not take the cohort down.
 */
async function validateAll(
  ids: string[],
  validate: (id: string) => Promise<CaseResult>,
  concurrency: number,
  onCase: LoadPdcadOptions['onCase'],
): Promise<CaseResult[]> {
  const results = new Array<CaseResult>(ids.length);
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < ids.length) {
      const idx = next++;
      const id = ids[idx]!;
      try {
        results[idx] = await validate(id);
      } catch (e) {
        results[idx] = {
          problems: [
            {
              caseId: id,
              severity: 'error',
              code: 'E_CASE_INVALID',
              reason: `unexpected failure: ${(e as Error).message}`,
            },
          ],
        };
      }
      onCase?.(id, ++done, ids.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, ids.length) }, worker));
  return results;
}

/**
 * Appends each case's problems to `problems` (which holds the CSV's) in case order: a case is kept
 * when it validated and its CSV row is sound, else excluded. A folder the CSV does not list is kept
 * without a label, with a warning.
 */
function mergeCaseResults(
  ids: string[],
  results: CaseResult[],
  problems: PdcadProblem[],
  csv: LabelsCsv | undefined,
): { cases: PdcadCase[]; excluded: string[] } {
  const cases: PdcadCase[] = [];
  const excluded: string[] = [];
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    const r = results[i]!;
    if (csv && !csv.labels.has(id) && !problems.some((p) => p.caseId === id)) {
      r.problems.push({
        caseId: id,
        severity: 'warning',
        code: 'W_CASE_NOT_IN_CSV',
        reason: `case folder is not listed in ${basename(csv.file)}; loaded without a label`,
      });
      r.record?.warnings.push(r.problems[r.problems.length - 1]!);
    }
    const csvError = problems.some((p) => p.caseId === id && p.severity === 'error');
    problems.push(...r.problems);
    if (r.record && !csvError) cases.push(r.record);
    else excluded.push(id);
  }
  return { cases, excluded };
}

/** Errors for the CSV's case ids that have no case folder (nor a broken link named so), sorted. */
function csvRowsWithoutFolder(dir: string, csv: LabelsCsv, found: Set<string>): PdcadProblem[] {
  return [...csv.labels.keys()]
    .sort()
    .filter((id) => !found.has(id))
    .map((id) => ({
      caseId: id,
      severity: 'error',
      code: 'E_FILE_NOT_FOUND',
      reason: `listed in ${basename(csv.file)} but there is no case folder ${join(dir, id)}`,
    }));
}
