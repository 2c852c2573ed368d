/**
 * Reads a cohort in the PDCADxFoundation layout (via {@link loadPdcadCases}) and computes the
 * baseline features of every labelled case, one case in memory at a time.
 */

import { MrnError } from '../errors.js';
import { readNifti } from '../io/nifti-reader.js';
import { loadPdcadCases } from '../pdcad/load-cases.js';
import { type PdcadProblem } from '../pdcad/pdcad-case.js';
import type { BaselineSample } from './cross-validate.js';
import { extractBaselineFeatures } from './roi-features.js';

/** Options of {@link loadBaselineSamples}. */
export interface LoadBaselineOptions {
  /** The `case,label` CSV (default: `train_cases.csv` in the cohort folder, as `mrn synth` writes). */
  labels?: string;
  /** Called after each case's features are computed. */
  onCase?: (caseId: string, done: number, total: number) => void;
}

/** What {@link loadBaselineSamples} found. */
export interface BaselineSamples {
  /** Labelled, valid cases with their features. */
  samples: BaselineSample[];
  /** Problems of the cohort loader (excluded cases, warnings), plus unlabelled cases skipped. */
  problems: PdcadProblem[];
}

/**
 * Loads every labelled valid case of `dir` and computes {@link extractBaselineFeatures}. Cases the
 * cohort loader excludes, and unlabelled cases, are skipped and listed in `problems`; a case whose
 * features cannot be computed (an empty label) is skipped with its error as a problem. Throws
 * `E_INVALID_ARGUMENT` when fewer than two labelled cases remain.
 */
export async function loadBaselineSamples(
  dir: string,
  options: LoadBaselineOptions = {},
): Promise<BaselineSamples> {
  const labels = options.labels ?? `${dir.replace(/\/+$/, '')}/train_cases.csv`;
  const cohort = await loadPdcadCases(dir, { labels, rois: [] });
  const problems = [...cohort.problems];
  const samples: BaselineSample[] = [];
  const total = cohort.cases.length;
  let done = 0;
  for (const c of cohort.cases) {
    done++;
    if (c.label !== 0 && c.label !== 1) {
      problems.push({
        caseId: c.id,
        severity: 'error',
        code: 'E_CASE_INVALID',
        reason: 'no 0/1 label in the labels CSV; skipped by the baseline',
      });
      continue;
    }
    try {
      const [qsm, nm, qsmMask, nmMask] = await Promise.all([
        readNifti(c.files.QSM),
        readNifti(c.files.NM),
        readNifti(c.files.QSM_mask),
        readNifti(c.files.NM_mask),
      ]);
      samples.push({
        id: c.id,
        label: c.label,
        features: extractBaselineFeatures(
          { qsm: qsm!, nm: nm!, qsmMask: qsmMask!, nmMask: nmMask! },
          { caseId: c.id },
        ),
      });
    } catch (e) {
      if (!(e instanceof MrnError)) throw e;
      problems.push({ caseId: c.id, severity: 'error', code: e.code, reason: e.message, file: e.file });
    }
    options.onCase?.(c.id, done, total);
  }
  if (samples.length < 2) {
    throw new MrnError(
      'E_TOO_FEW_CASES',
      `baseline: only ${samples.length} labelled usable case(s) in ${dir}; problems: ${problems
        .slice(0, 3)
        .map((p) => `${p.caseId}: ${p.reason}`)
        .join('; ')}`,
      { file: dir },
    );
  }
  return { samples, problems };
}
