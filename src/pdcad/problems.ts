/**
 * The problems {@link loadPdcadCases} reports per case, by code. An `error` excludes the case; a
 * `warning` keeps it. Error codes are {@link MrnErrorCode}s (the CLI maps them to exit codes); warning
 * codes start with `W_` and never stop anything, so they are not error codes.
 */

import type { MrnErrorCode } from '../errors.js';

/** Severity and meaning of every code a cohort problem can carry. The README's table lists the same. */
export const PDCAD_PROBLEM_CODES = {
  E_FILE_NOT_FOUND: {
    severity: 'error',
    meaning: 'a file of the case is missing, or a CSV row names a case with no folder',
  },
  E_LINK_BROKEN: {
    severity: 'error',
    meaning: 'a case folder or file is a symlink whose target is missing, or a symlink loop',
  },
  E_IO: { severity: 'error', meaning: 'a file exists but cannot be read (permissions, I/O)' },
  E_NIFTI_TRUNCATED: { severity: 'error', meaning: 'a NIfTI file ends before its header or voxel data' },
  E_NIFTI_INVALID: { severity: 'error', meaning: 'a NIfTI file is malformed (magic, header fields, gzip)' },
  E_NIFTI_UNSUPPORTED: {
    severity: 'error',
    meaning: 'a NIfTI datatype or layout mrn does not read (e.g. a 4-D file, see readNifti volume)',
  },
  E_GRID_MISMATCH: { severity: 'error', meaning: 'QSM, NM and the masks are not on one voxel grid' },
  E_NON_FINITE: { severity: 'error', meaning: 'a volume holds NaN or Inf voxels' },
  E_LABEL_MISSING: { severity: 'error', meaning: 'a mask holds none of the labels of an ROI' },
  E_CLASS_LABEL_INVALID: { severity: 'error', meaning: 'the CSV label of the case is not 0 or 1' },
  E_CLASS_LABEL_CONFLICT: {
    severity: 'error',
    meaning: 'the case is listed twice in the CSV with different labels',
  },
  E_CSV_ROW_INVALID: { severity: 'error', meaning: 'a CSV row has no case id' },
  E_CASE_INVALID: {
    severity: 'error',
    meaning: 'validating the case failed unexpectedly (a bug; see the reason)',
  },
  W_NUCLEUS_MISSING: {
    severity: 'warning',
    meaning: 'a nucleus has no voxel on one side; the ROI box mirrors the other side or grows',
  },
  W_NM_SN_FROM_QSM: {
    severity: 'warning',
    meaning: "the NM mask has no SN; the co-registered QSM mask's SN stands in",
  },
  W_MASK_VALUES_ROUNDED: {
    severity: 'warning',
    meaning: 'a mask holds non-integer or negative values; they are rounded',
  },
  W_QSM_LOOKS_PPM: {
    severity: 'warning',
    meaning: 'QSM values in deep grey matter are below 2: the image looks like ppm (mrn expects ppb)',
  },
  W_CASE_NOT_IN_CSV: {
    severity: 'warning',
    meaning: 'the case folder is not in the labels CSV; loaded without a label',
  },
} as const satisfies Record<string, { severity: 'error' | 'warning'; meaning: string }>;

/** A code of {@link PDCAD_PROBLEM_CODES}. */
export type PdcadProblemCode = keyof typeof PDCAD_PROBLEM_CODES;

/** The warning codes (`W_*`): the case is kept. */
export type PdcadWarningCode = Extract<PdcadProblemCode, `W_${string}`>;

/**
 * How many problems of each code made cases unusable, most frequent first (ties by code), e.g.
 * `[['E_FILE_NOT_FOUND', 2], ['E_CLASS_LABEL_INVALID', 1]]`. Warnings are not counted.
 */
export function countSkipReasons(
  problems: ReadonlyArray<{ severity: 'error' | 'warning'; code: MrnErrorCode | PdcadWarningCode }>,
): [MrnErrorCode, number][] {
  const counts = new Map<MrnErrorCode, number>();
  for (const p of problems) {
    if (p.severity === 'error')
      counts.set(p.code as MrnErrorCode, (counts.get(p.code as MrnErrorCode) ?? 0) + 1);
  }
  return [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
}

/** {@link countSkipReasons} as text: `2 E_FILE_NOT_FOUND, 1 E_CLASS_LABEL_INVALID` (`none` when empty). */
export function formatSkipReasons(counts: ReadonlyArray<readonly [string, number]>): string {
  return counts.length ? counts.map(([code, n]) => `${n} ${code}`).join(', ') : 'none';
}
