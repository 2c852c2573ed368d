/**
 * Every error mrn throws on purpose is an {@link MrnError} with a stable {@link MrnErrorCode}, so
 * programs (and the `mrn` CLI's exit codes) can react to the kind of failure without parsing messages.
 */

/**
 * Stable error codes. New codes may be added; existing ones never change meaning.
 * Grouped by the exit code the CLI maps them to (see {@link exitCodeFor}).
 */
export const MRN_ERROR_CODES = {
  /** A caller passed an argument of the wrong type, rank, shape or range. */
  E_INVALID_ARGUMENT: 2,
  /** A configuration (model, ROI, training) is inconsistent or incomplete. */
  E_CONFIG: 2,
  /** A CLI invocation is malformed (unknown flag, missing value). */
  E_USAGE: 2,
  /** A file or folder that should exist does not. */
  E_FILE_NOT_FOUND: 3,
  /** A file could not be read or written (permissions, I/O error, full disk). */
  E_IO: 3,
  /** A symlink (case folder or file) points nowhere: its target is missing, or links form a loop. */
  E_LINK_BROKEN: 3,
  /** A run folder is in use by another live process (the error names its pid). */
  E_RUN_LOCKED: 3,
  /** A NIfTI file ends before its header or voxel data does. */
  E_NIFTI_TRUNCATED: 4,
  /** A NIfTI file is malformed (bad magic, header fields out of range, corrupt gzip). */
  E_NIFTI_INVALID: 4,
  /** A NIfTI file uses a datatype or layout mrn does not read. */
  E_NIFTI_UNSUPPORTED: 4,
  /** A safetensors file is malformed or lies about its sizes. */
  E_SAFETENSORS_INVALID: 4,
  /** A cache file mrn wrote earlier is damaged (checksum, length or format mismatch); it is never trusted. */
  E_CACHE_CORRUPT: 4,
  /** Volumes that must share a voxel grid (QSM, NM, masks) do not. */
  E_GRID_MISMATCH: 5,
  /** Voxel data holds NaN or Inf where the chosen policy rejects them. */
  E_NON_FINITE: 5,
  /** A nucleus label an ROI needs is absent from a mask. */
  E_LABEL_MISSING: 5,
  /** A case folder is unusable (see the accompanying problems). */
  E_CASE_INVALID: 5,
  /** A class label in the labels CSV is not 0 (HC) or 1 (PD). */
  E_CLASS_LABEL_INVALID: 5,
  /** A case is listed twice in the labels CSV with different labels. */
  E_CLASS_LABEL_CONFLICT: 5,
  /** A row of the labels CSV has no case id. */
  E_CSV_ROW_INVALID: 5,
  /** Too few usable labelled cases (overall, per class or for the number of folds) to train. */
  E_TOO_FEW_CASES: 5,
  /** A volume is not in the orientation a function requires. */
  E_ORIENTATION: 5,
  /** Model weights are missing, extra or mis-shaped. */
  E_WEIGHTS: 6,
  /** A checkpoint does not match the model or backbone it is loaded with. */
  E_CHECKPOINT: 6,
  /** A tfjs backend was requested but cannot be loaded. */
  E_BACKEND: 7,
  /** A Node-only function (file paths, processes) was called in mrn's browser build. */
  E_NODE_ONLY: 7,
  /** Not enough memory (e.g. the wasm backend's 4 GiB heap) for the requested work. */
  E_MEMORY: 7,
  /** Some cases of a batch job (predict, preprocess) failed; the others succeeded. */
  E_PARTIAL_FAILURE: 8,
  /** An internal invariant broke: a bug in mrn. */
  E_INTERNAL: 70,
} as const;

/** One of the stable error codes in {@link MRN_ERROR_CODES}. */
export type MrnErrorCode = keyof typeof MRN_ERROR_CODES;

/** Context attached to an {@link MrnError}. */
export interface MrnErrorContext {
  /** The file the error concerns, when there is one. */
  file?: string;
  /** The case (e.g. `RJPD_002`) the error concerns, when there is one. */
  caseId?: string;
  /** The error that caused this one, if any. */
  cause?: unknown;
  /** Structured details (expected vs actual values, lists of offending names). */
  details?: Record<string, unknown>;
}

/**
 * The error type of mrn. Its message names the file and case when known, what was expected and what
 * was found; `code` is stable and machine-readable.
 *
 * @example
 * ```ts
 * try { await readNifti('QSM.nii.gz'); }
 * catch (e) { if (e instanceof MrnError && e.code === 'E_NIFTI_TRUNCATED') ... }
 * ```
 */
export class MrnError extends Error {
  /** Stable machine-readable code. */
  readonly code: MrnErrorCode;
  /** The file this error concerns, if any. */
  readonly file?: string;
  /** The case this error concerns, if any. */
  readonly caseId?: string;
  /** Structured details, if any. */
  readonly details?: Record<string, unknown>;

  constructor(code: MrnErrorCode, message: string, context: MrnErrorContext = {}) {
    const where = [context.caseId && `case ${context.caseId}`, context.file && `file ${context.file}`]
      .filter(Boolean)
      .join(', ');
    super(where ? `${message} (${where})` : message, context.cause ? { cause: context.cause } : undefined);
    this.name = 'MrnError';
    this.code = code;
    this.file = context.file;
    this.caseId = context.caseId;
    this.details = context.details;
  }
}

/**
 * The `E_INVALID_ARGUMENT` {@link MrnError} of `who` (a function or layer, named first in the message):
 * the one helper every argument check throws through.
 *
 * @example
 * ```ts
 * if (!(t > 0)) throw invalidArgument('supConLoss', `temperature must be > 0, got ${t}`, { temperature: t });
 * ```
 */
export function invalidArgument(who: string, message: string, details?: Record<string, unknown>): MrnError {
  return new MrnError('E_INVALID_ARGUMENT', `${who}: ${message}`, details ? { details } : {});
}

/** The process exit code the CLI uses for an error (1 for errors that are not {@link MrnError}s). */
export function exitCodeFor(error: unknown): number {
  if (error instanceof MrnError) return MRN_ERROR_CODES[error.code];
  return 1;
}

/** True when `error` is an {@link MrnError}, optionally with the given code. */
export function isMrnError(error: unknown, code?: MrnErrorCode): error is MrnError {
  return error instanceof MrnError && (code === undefined || error.code === code);
}
