/**
 * Validation of one case folder, in the order a reader would check it: the four files are there, they
 * read, they share one voxel grid without NaN/Inf voxels, and the masks hold the labels the ROIs need.
 * Each step records its problems; a step whose errors make the next meaningless ends the validation.
 */

import { stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { MrnError, type MrnErrorCode } from '../errors.js';
import { readNifti } from '../io/nifti-reader.js';
import { lrPartners, PDCAD_QSM_SN_TO_NM } from '../preprocess/nucleus-labels.js';
import { aff2axcodes } from '../preprocess/orientation.js';
import { checkSameGrid } from '../preprocess/resample.js';
import type { RoiDefinition } from '../preprocess/roi-definitions.js';
import { guessQsmUnit } from '../preprocess/roi-normalize.js';
import type { Volume } from '../preprocess/volume.js';
import { brokenLinkReason, findFile, PDCAD_FILE_NAMES } from './discover.js';
import { PDCAD_FILE_ROLES, type PdcadCase, type PdcadFileRole, type PdcadProblem } from './pdcad-case.js';
import type { PdcadWarningCode } from './problems.js';

/** Tolerance (mm, at the grid's corner voxels) for "same grid": far below a voxel, above float32 rounding. */
const GRID_TOLERANCE = 1e-3;

/** The two masks of a case. */
type MaskRole = 'QSM_mask' | 'NM_mask';

/** A case's four volumes and their paths, once read. */
interface CaseVolumes {
  files: Record<PdcadFileRole, string>;
  vols: Record<PdcadFileRole, Volume>;
  fileStats: PdcadCase['fileStats'];
}

/** The problems of one case, in the order found. */
class CaseProblems {
  readonly list: PdcadProblem[] = [];

  constructor(private readonly caseId: string) {}

  /** Records a problem that excludes the case. */
  error(code: MrnErrorCode, reason: string, file?: string): void {
    this.list.push({ caseId: this.caseId, severity: 'error', code, reason, file });
  }

  /** Records a problem the case is kept with. */
  warn(code: PdcadWarningCode, reason: string, file?: string): void {
    this.list.push({ caseId: this.caseId, severity: 'warning', code, reason, file });
  }

  /** Whether some recorded problem excludes the case. */
  hasErrors(): boolean {
    return this.list.some((p) => p.severity === 'error');
  }
}

/** Validates one case folder: files, readability, grids, finite voxels, labels. */
export async function validateCase(
  id: string,
  dir: string,
  label: number | undefined,
  rois: readonly RoiDefinition[],
): Promise<{ record?: PdcadCase; problems: PdcadProblem[] }> {
  const problems = new CaseProblems(id);
  const files = await findCaseFiles(dir, problems);
  if (problems.list.length) return { problems: problems.list };
  const read = await readCaseVolumes(files, problems);
  if (problems.list.length) return { problems: problems.list };
  checkGridsAndVoxels(read, problems);
  const missingLabels = checkMaskLabels(read, rois, problems);
  if (problems.hasErrors()) return { problems: problems.list };

  const qsmUnitGuess = guessQsmUnit(read.vols.QSM, read.vols.QSM_mask);
  if (qsmUnitGuess === 'ppm') {
    problems.warn(
      'W_QSM_LOOKS_PPM',
      'QSM values in deep grey matter are below 2: the image looks like ppm; pass qsm.unit = "ppm" when preprocessing',
      files.QSM,
    );
  }
  const ref = read.vols.QSM;
  return {
    problems: problems.list,
    record: {
      id,
      dir,
      label,
      files,
      fileStats: read.fileStats,
      geometry: {
        shape: [...ref.shape],
        spacing: [...ref.spacing],
        affine: ref.affine.map((r) => [...r]),
        orientation: aff2axcodes(ref.affine),
      },
      missingLabels,
      qsmUnitGuess,
      warnings: problems.list.filter((p) => p.severity === 'warning'),
    },
  };
}

/** Finds the four files of a case (`.nii.gz` or `.nii`); a missing file or a broken link is an error. */
async function findCaseFiles(dir: string, problems: CaseProblems): Promise<Record<PdcadFileRole, string>> {
  const files = {} as Record<PdcadFileRole, string>;
  for (const role of PDCAD_FILE_ROLES) {
    const found = await findFile(dir, PDCAD_FILE_NAMES[role]);
    if (found?.broken)
      problems.error('E_LINK_BROKEN', brokenLinkReason(basename(found.path), found.broken), found.path);
    else if (found) files[role] = found.path;
    else
      problems.error(
        'E_FILE_NOT_FOUND',
        `missing ${PDCAD_FILE_NAMES[role]}.nii.gz`,
        join(dir, `${PDCAD_FILE_NAMES[role]}.nii.gz`),
      );
  }
  return files;
}

/** Reads the four volumes and records each file's size and mtime (the ROI cache keys on them). */
async function readCaseVolumes(
  files: Record<PdcadFileRole, string>,
  problems: CaseProblems,
): Promise<CaseVolumes> {
  const vols = {} as Record<PdcadFileRole, Volume>;
  const fileStats = {} as PdcadCase['fileStats'];
  for (const role of PDCAD_FILE_ROLES) {
    try {
      const s = await stat(files[role]);
      fileStats[role] = { size: s.size, mtimeMs: s.mtimeMs };
      vols[role] = await readNifti(files[role]);
    } catch (e) {
      if (e instanceof MrnError) problems.error(e.code, e.message, files[role]);
      else
        problems.error('E_IO', `cannot read ${basename(files[role])}: ${(e as Error).message}`, files[role]);
    }
  }
  return { files, vols, fileStats };
}

/** Every volume on the QSM's voxel grid, and no NaN/Inf voxel anywhere. */
function checkGridsAndVoxels({ files, vols }: CaseVolumes, problems: CaseProblems): void {
  for (const role of PDCAD_FILE_ROLES.slice(1)) {
    try {
      checkSameGrid(vols.QSM, vols[role], GRID_TOLERANCE);
    } catch (e) {
      problems.error('E_GRID_MISMATCH', (e as Error).message, files[role]);
    }
  }
  for (const role of PDCAD_FILE_ROLES) {
    if (vols[role].nonFiniteCount > 0) {
      problems.error(
        'E_NON_FINITE',
        `${basename(files[role])} has ${vols[role].nonFiniteCount} NaN/Inf voxels`,
        files[role],
      );
    }
  }
}

/** Voxel count of each non-zero value of a mask. */
function labelCounts(mask: Volume): Map<number, number> {
  const counts = new Map<number, number>();
  const d = mask.data.data;
  for (let p = 0; p < d.length; p++) {
    const v = d[p]!;
    if (v !== 0) counts.set(v, (counts.get(v) ?? 0) + 1);
  }
  return counts;
}

/**
 * Labels: every ROI label should be present; a nucleus missing on one side is a warning (the crop
 * mirrors the other side or grows the box), a whole ROI without any label is an error. Returns the
 * labels with no voxel, per mask.
 */
function checkMaskLabels(
  { files, vols }: CaseVolumes,
  rois: readonly RoiDefinition[],
  problems: CaseProblems,
): PdcadCase['missingLabels'] {
  const missingLabels = { QSM_mask: [] as number[], NM_mask: [] as number[] };
  const counts = { QSM_mask: labelCounts(vols.QSM_mask), NM_mask: labelCounts(vols.NM_mask) };
  for (const role of ['QSM_mask', 'NM_mask'] as const) {
    const bad = [...counts[role].keys()].filter((l) => !Number.isInteger(l) || l < 0);
    if (bad.length) {
      problems.warn(
        'W_MASK_VALUES_ROUNDED',
        `${basename(files[role])} holds non-label values (${bad.slice(0, 5).join(', ')}); they are rounded`,
        files[role],
      );
    }
  }
  for (const roi of rois) {
    const role = `${roi.image}_mask` as MaskRole;
    const present = roi.labels.filter((l) => (counts[role].get(l) ?? 0) > 0);
    const file = files[role];
    if (present.length === 0 && role === 'NM_mask' && nmSnFromQsm(roi, counts, file, missingLabels, problems))
      continue;
    if (present.length === 0) {
      problems.error(
        'E_LABEL_MISSING',
        `ROI ${roi.id}: ${basename(file)} has none of its labels [${roi.labels}]`,
        file,
      );
      continue;
    }
    warnMissingNuclei(roi, present, file, missingLabels[role], problems);
  }
  return missingLabels;
}

/**
 * An NM ROI whose labels are all absent from the NM mask: when the QSM mask has the SN, preprocessCase
 * takes the SN from the co-registered QSM mask (PreprocessOptions.nmMaskFromQsm), so the case is kept
 * with a warning. Returns whether that stand-in exists.
 */
function nmSnFromQsm(
  roi: RoiDefinition,
  counts: Record<MaskRole, Map<number, number>>,
  file: string,
  missingLabels: PdcadCase['missingLabels'],
  problems: CaseProblems,
): boolean {
  const stand = PDCAD_QSM_SN_TO_NM.filter(([, nmLabel]) => roi.labels.includes(nmLabel)).map(([q]) => q);
  if (!stand.some((l) => (counts.QSM_mask.get(l) ?? 0) > 0)) return false;
  missingLabels.NM_mask.push(...roi.labels.filter((l) => !missingLabels.NM_mask.includes(l)));
  problems.warn(
    'W_NM_SN_FROM_QSM',
    `ROI ${roi.id}: ${basename(file)} has none of its labels [${roi.labels}]; the QSM mask's SN [${stand}] is used instead (co-registered)`,
    file,
  );
  return true;
}

/** A nucleus missing on one side of an ROI that has some label: warn how the crop makes up for it. */
function warnMissingNuclei(
  roi: RoiDefinition,
  present: number[],
  file: string,
  missing: number[],
  problems: CaseProblems,
): void {
  const partner = lrPartners(roi.lrPairs);
  for (const l of roi.labels) {
    if (present.includes(l)) continue;
    if (!missing.includes(l)) missing.push(l);
    const p = partner.get(l);
    const how =
      p !== undefined && present.includes(p)
        ? `the box mirrors label ${p}`
        : `the box is grown to the typical extent (${roi.typicalExtentMm.join('x')} mm)`;
    problems.warn(
      'W_NUCLEUS_MISSING',
      `ROI ${roi.id}: label ${l} has no voxel in ${basename(file)}; ${how}`,
      file,
    );
  }
}
