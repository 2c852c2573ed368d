/**
 * A PDCADxFoundation case as the loader validates it: one folder (`RJPD_###/` with `QSM.nii.gz`,
 * `NM.nii.gz`, `QSM_mask.nii.gz`, `NM_mask.nii.gz`) described by paths and validated geometry, never
 * voxels, and the problems found per case.
 */

import type { MrnErrorCode } from '../errors.js';
import type { QsmUnit } from '../preprocess/roi-normalize.js';
import type { Affine } from '../preprocess/volume.js';
import type { PdcadWarningCode } from './problems.js';

/** The four files of a case, by role. */
export type PdcadFileRole = 'QSM' | 'NM' | 'QSM_mask' | 'NM_mask';

/** The file roles in reading order. */
export const PDCAD_FILE_ROLES: readonly PdcadFileRole[] = ['QSM', 'NM', 'QSM_mask', 'NM_mask'];

/** One problem found while loading a cohort. */
export interface PdcadProblem {
  /** The case (folder name, or the id in the CSV). */
  caseId: string;
  /** `error`: the case is excluded; `warning`: the case is kept (e.g. a missing nucleus with a fallback). */
  severity: 'error' | 'warning';
  /**
   * Stable code for programs: an {@link MrnErrorCode} for errors, a `W_*` code for warnings (every
   * code with its severity and meaning: {@link PDCAD_PROBLEM_CODES}).
   */
  code: MrnErrorCode | PdcadWarningCode;
  /** What is wrong, in words. */
  reason: string;
  /** The file concerned, when there is one. */
  file?: string;
  /** The 1-based line of the labels CSV, for problems found in the CSV. */
  row?: number;
}

/** Geometry shared by a case's four volumes, as stored in the files. */
export interface PdcadGeometry {
  /** Voxel grid `[X, Y, Z]`. */
  shape: [number, number, number];
  /** Voxel size in mm. */
  spacing: [number, number, number];
  /** Voxel-to-world affine (RAS+ mm), rows. */
  affine: Affine;
  /** Orientation codes of the stored files (e.g. `'LAS'`; preprocessing reorients to `'RAS'`). */
  orientation: string;
}

/** A validated case: paths and geometry, no voxels. */
export interface PdcadCase {
  /** Case id: the folder name (e.g. `RJPD_002`). */
  id: string;
  /** The case folder. */
  dir: string;
  /** 1 = PD, 0 = HC; `undefined` when there is no label (test sets). */
  label: number | undefined;
  /** Paths of the four files. */
  files: Record<PdcadFileRole, string>;
  /** Size and modification time of each file when validated (the ROI cache keys on them). */
  fileStats: Record<PdcadFileRole, { size: number; mtimeMs: number }>;
  /** The shared voxel grid. */
  geometry: PdcadGeometry;
  /** Mask labels with no voxel, per mask (only labels some ROI needs). */
  missingLabels: { QSM_mask: number[]; NM_mask: number[] };
  /** Units the QSM appears to be stored in (see {@link guessQsmUnit}); `undefined` if undecidable. */
  qsmUnitGuess: QsmUnit | undefined;
  /** The warnings of this case (also in the cohort's `problems`). */
  warnings: PdcadProblem[];
}
