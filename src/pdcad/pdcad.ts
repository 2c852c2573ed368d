/**
 * The PDCADxFoundation challenge layout: one folder per case (`RJPD_###/` with `QSM.nii.gz`,
 * `NM.nii.gz`, `QSM_mask.nii.gz`, `NM_mask.nii.gz`) and a `case,label` CSV (1 = PD, 0 = HC).
 *
 * {@link loadPdcadCases} finds and validates the cases and returns records holding paths and
 * validated geometry, never voxels (200 cases of four float volumes would not fit in memory). Every
 * problem is reported per case with a severity: `error` excludes the case, `warning` keeps it. A bad
 * case never takes the others down, and no case disappears without a problem saying why.
 *
 * {@link preprocessCase} turns one case record into the model's ROI tensors.
 */

import type { Dirent } from 'node:fs';
import { lstat, readdir, readFile, readlink, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { MrnError, type MrnErrorCode } from '../errors.js';
import { readNifti } from '../io/nifti.js';
import type { PdcadWarningCode } from './problems.js';
import {
  guessQsmUnit,
  NM_RATIO_WINDOW,
  nmReference,
  normalizeRoiImage,
  type NmNormalizeOptions,
  type NmReference,
  type NmReferenceOptions,
  type QsmNormalizeOptions,
  QSM_WINDOW_PPB,
  type QsmUnit,
  type RoiIntensity,
} from '../preprocess/roi-normalize.js';
import { aff2axcodes, reorientToCanonical } from '../preprocess/orientation.js';
import { checkSameGrid } from '../preprocess/resample.js';
import {
  cropRoi,
  maskLabelStats,
  type LabelStats,
  type RoiBox,
  type RoiCropReport,
} from '../preprocess/roi-crop.js';
import { MRN_ROIS, validateRoi, type RoiDefinition } from '../preprocess/roi-definitions.js';
import { roiToSlices, type RoiSlices } from '../preprocess/roi-slices.js';
import { createVolume, type Affine, type Volume } from '../preprocess/volume.js';

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

/** A bad row of the labels CSV (see {@link parsePdcadLabels}). */
export interface PdcadLabelProblem {
  /** 1-based line number in the CSV (the header is line 1). */
  row: number;
  /** The case id of the row; `undefined` when the row has none. */
  caseId: string | undefined;
  /** What is wrong with the row. */
  code: 'E_CLASS_LABEL_INVALID' | 'E_CLASS_LABEL_CONFLICT' | 'E_CSV_ROW_INVALID';
  /** The label cell as written, when the row has a case id. */
  value?: string;
  /** What is wrong, in words, with file and line. */
  reason: string;
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

const FILE_NAMES: Record<PdcadFileRole, string> = {
  QSM: 'QSM',
  NM: 'NM',
  QSM_mask: 'QSM_mask',
  NM_mask: 'NM_mask',
};

/** Tolerance (mm, at the grid's corner voxels) for "same grid": far below a voxel, above float32 rounding. */
const GRID_TOLERANCE = 1e-3;

/** A class label cell: 0 or 1, optionally written as a float (`1.0`, as pandas writes floats). */
const CLASS_LABEL = /^[01](\.0*)?$/;

/**
 * Parses a `case,label` CSV. A header row is recognised (and skipped) when its label cell is not a
 * number; columns named `case`/`id`/`subject` and `label` are used when present, else the first two.
 * Labels must be `0` (HC) or `1` (PD); every other value is a problem of its row.
 * Returns the labels by case id, the bad rows as data and the number of data rows.
 */
export function parsePdcadLabels(
  text: string,
  file = 'labels.csv',
): { labels: Map<string, number>; problems: PdcadLabelProblem[]; rows: number } {
  const lines = text
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)
    .map((l) => l.trim());
  const labels = new Map<string, number>();
  const problems: PdcadLabelProblem[] = [];
  let caseCol = 0;
  let labelCol = 1;
  let first = true;
  let rows = 0;
  lines.forEach((line, n) => {
    if (line === '' || line.startsWith('#')) return;
    const cells = line.split(/[,;\t]/).map((c) => c.trim().replace(/^"(.*)"$/, '$1'));
    if (first) {
      first = false;
      const lower = cells.map((c) => c.toLowerCase());
      const l = lower.indexOf('label');
      const c = lower.findIndex((x) => x === 'case' || x === 'id' || x === 'subject' || x === 'case_id');
      if (l >= 0 || c >= 0 || !Number.isFinite(Number(cells[1]))) {
        if (l >= 0) labelCol = l;
        if (c >= 0) caseCol = c;
        return;
      }
    }
    rows++;
    const row = n + 1;
    const id = cells[caseCol] || undefined;
    const raw = cells[labelCol] ?? '';
    if (id === undefined) {
      problems.push({
        row,
        caseId: undefined,
        code: 'E_CSV_ROW_INVALID',
        reason: `${file}:${row}: no case id`,
      });
    } else if (!CLASS_LABEL.test(raw)) {
      problems.push({
        row,
        caseId: id,
        code: 'E_CLASS_LABEL_INVALID',
        value: raw,
        reason: `${file}:${row}: case ${id} has label '${raw}'; labels must be 0 (HC) or 1 (PD)`,
      });
    } else if (labels.has(id) && labels.get(id) !== Number(raw)) {
      problems.push({
        row,
        caseId: id,
        code: 'E_CLASS_LABEL_CONFLICT',
        value: raw,
        reason: `${file}:${row}: case ${id} is listed twice with different labels`,
      });
    } else labels.set(id, Number(raw));
  });
  return { labels, problems, rows };
}

/** What a path is once symlinks are followed. */
type PathProbe =
  | { kind: 'file' | 'dir' | 'other'; link?: string }
  | { kind: 'missing' }
  | { kind: 'broken' | 'loop'; link: string };

/**
 * Follows `path` (symlinks included, relative or absolute targets). A dangling link and a link loop
 * (the OS gives up after its hop limit, so this never hangs) are told apart from a plain missing path.
 */
async function probePath(path: string): Promise<PathProbe> {
  let own;
  try {
    own = await lstat(path);
  } catch {
    return { kind: 'missing' };
  }
  const link = own.isSymbolicLink() ? await readlink(path).catch(() => '?') : undefined;
  try {
    const s = link === undefined ? own : await stat(path);
    return { kind: s.isFile() ? 'file' : s.isDirectory() ? 'dir' : 'other', ...(link ? { link } : {}) };
  } catch (e) {
    return { kind: (e as NodeJS.ErrnoException).code === 'ELOOP' ? 'loop' : 'broken', link: link ?? '?' };
  }
}

/** Why a probed symlink is unusable, in words. */
function brokenLinkReason(name: string, probe: { kind: 'broken' | 'loop'; link: string }): string {
  return probe.kind === 'loop'
    ? `${name} is a symlink loop (via '${probe.link}')`
    : `${name} is a symlink to '${probe.link}', which does not exist`;
}

/**
 * Finds `stem.nii.gz` or `stem.nii` in `dir`, following symlinks. A broken link is returned as such
 * (when no other candidate is a file), so the case can say which link is broken.
 */
async function findFile(
  dir: string,
  stem: string,
): Promise<{ path: string; broken?: { kind: 'broken' | 'loop'; link: string } } | undefined> {
  let broken: { path: string; broken: { kind: 'broken' | 'loop'; link: string } } | undefined;
  for (const ext of ['.nii.gz', '.nii']) {
    const p = join(dir, stem + ext);
    const probe = await probePath(p);
    if (probe.kind === 'file') return { path: p };
    if ((probe.kind === 'broken' || probe.kind === 'loop') && !broken) broken = { path: p, broken: probe };
  }
  return broken;
}

function labelCounts(mask: Volume): Map<number, number> {
  const counts = new Map<number, number>();
  const d = mask.data.data;
  for (let p = 0; p < d.length; p++) {
    const v = d[p]!;
    if (v !== 0) counts.set(v, (counts.get(v) ?? 0) + 1);
  }
  return counts;
}

/** Validates one case folder: files, readability, grids, finite voxels, labels. */
async function validateCase(
  id: string,
  dir: string,
  label: number | undefined,
  rois: readonly RoiDefinition[],
): Promise<{ record?: PdcadCase; problems: PdcadProblem[] }> {
  const problems: PdcadProblem[] = [];
  const error = (code: MrnErrorCode, reason: string, file?: string) =>
    problems.push({ caseId: id, severity: 'error', code, reason, file });
  const warn = (code: PdcadWarningCode, reason: string, file?: string) =>
    problems.push({ caseId: id, severity: 'warning', code, reason, file });

  const files = {} as Record<PdcadFileRole, string>;
  for (const role of PDCAD_FILE_ROLES) {
    const found = await findFile(dir, FILE_NAMES[role]);
    if (found?.broken)
      error('E_LINK_BROKEN', brokenLinkReason(basename(found.path), found.broken), found.path);
    else if (found) files[role] = found.path;
    else
      error(
        'E_FILE_NOT_FOUND',
        `missing ${FILE_NAMES[role]}.nii.gz`,
        join(dir, `${FILE_NAMES[role]}.nii.gz`),
      );
  }
  if (problems.length) return { problems };

  const vols = {} as Record<PdcadFileRole, Volume>;
  const fileStats = {} as PdcadCase['fileStats'];
  for (const role of PDCAD_FILE_ROLES) {
    try {
      const s = await stat(files[role]);
      fileStats[role] = { size: s.size, mtimeMs: s.mtimeMs };
      vols[role] = await readNifti(files[role]);
    } catch (e) {
      if (e instanceof MrnError) error(e.code, e.message, files[role]);
      else error('E_IO', `cannot read ${basename(files[role])}: ${(e as Error).message}`, files[role]);
    }
  }
  if (problems.length) return { problems };

  const ref = vols.QSM;
  for (const role of PDCAD_FILE_ROLES.slice(1)) {
    try {
      checkSameGrid(ref, vols[role], GRID_TOLERANCE);
    } catch (e) {
      error('E_GRID_MISMATCH', (e as Error).message, files[role]);
    }
  }
  for (const role of PDCAD_FILE_ROLES) {
    if (vols[role].nonFiniteCount > 0) {
      error(
        'E_NON_FINITE',
        `${basename(files[role])} has ${vols[role].nonFiniteCount} NaN/Inf voxels`,
        files[role],
      );
    }
  }

  // Labels: every ROI label should be present; a nucleus missing on one side is a warning (the crop
  // mirrors the other side or grows the box), a whole ROI without any label is an error.
  const missingLabels = { QSM_mask: [] as number[], NM_mask: [] as number[] };
  const counts = { QSM_mask: labelCounts(vols.QSM_mask), NM_mask: labelCounts(vols.NM_mask) };
  for (const role of ['QSM_mask', 'NM_mask'] as const) {
    const bad = [...counts[role].keys()].filter((l) => !Number.isInteger(l) || l < 0);
    if (bad.length) {
      warn(
        'W_MASK_VALUES_ROUNDED',
        `${basename(files[role])} holds non-label values (${bad.slice(0, 5).join(', ')}); they are rounded`,
        files[role],
      );
    }
  }
  for (const roi of rois) {
    const role = `${roi.image}_mask` as 'QSM_mask' | 'NM_mask';
    const present = roi.labels.filter((l) => (counts[role].get(l) ?? 0) > 0);
    if (present.length === 0 && role === 'NM_mask') {
      // preprocessCase then takes the SN from the co-registered QSM mask (PreprocessOptions.nmMaskFromQsm).
      const stand = PDCAD_QSM_SN_TO_NM.filter(([, nmLabel]) => roi.labels.includes(nmLabel)).map(([q]) => q);
      if (stand.some((l) => (counts.QSM_mask.get(l) ?? 0) > 0)) {
        missingLabels[role].push(...roi.labels.filter((l) => !missingLabels[role].includes(l)));
        warn(
          'W_NM_SN_FROM_QSM',
          `ROI ${roi.id}: ${basename(files[role])} has none of its labels [${roi.labels}]; the QSM mask's SN [${stand}] is used instead (co-registered)`,
          files[role],
        );
        continue;
      }
    }
    if (present.length === 0) {
      error(
        'E_LABEL_MISSING',
        `ROI ${roi.id}: ${basename(files[role])} has none of its labels [${roi.labels}]`,
        files[role],
      );
      continue;
    }
    const partner = new Map<number, number>();
    for (const [r, l] of roi.lrPairs) {
      partner.set(r, l);
      partner.set(l, r);
    }
    for (const l of roi.labels) {
      if (present.includes(l)) continue;
      if (!missingLabels[role].includes(l)) missingLabels[role].push(l);
      const p = partner.get(l);
      const how =
        p !== undefined && present.includes(p)
          ? `the box mirrors label ${p}`
          : `the box is grown to the typical extent (${roi.typicalExtentMm.join('x')} mm)`;
      warn(
        'W_NUCLEUS_MISSING',
        `ROI ${roi.id}: label ${l} has no voxel in ${basename(files[role])}; ${how}`,
        files[role],
      );
    }
  }
  if (problems.some((p) => p.severity === 'error')) return { problems };

  const qsmUnitGuess = guessQsmUnit(vols.QSM, vols.QSM_mask);
  if (qsmUnitGuess === 'ppm') {
    warn(
      'W_QSM_LOOKS_PPM',
      'QSM values in deep grey matter are below 2: the image looks like ppm; pass qsm.unit = "ppm" when preprocessing',
      files.QSM,
    );
  }
  return {
    problems,
    record: {
      id,
      dir,
      label,
      files,
      fileStats,
      geometry: {
        shape: [...ref.shape],
        spacing: [...ref.spacing],
        affine: ref.affine.map((r) => [...r]),
        orientation: aff2axcodes(ref.affine),
      },
      missingLabels,
      qsmUnitGuess,
      warnings: problems.filter((p) => p.severity === 'warning'),
    },
  };
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
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
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
  const problems: PdcadProblem[] = [];
  let labels: Map<string, number> | undefined;
  let csvRows: number | undefined;
  if (options.labels !== undefined) {
    let text: string;
    try {
      text = await readFile(options.labels, 'utf8');
    } catch (e) {
      throw new MrnError(
        'E_FILE_NOT_FOUND',
        `loadPdcadCases: cannot read the labels CSV: ${(e as Error).message}`,
        {
          file: options.labels,
          cause: e,
        },
      );
    }
    const parsed = parsePdcadLabels(text, options.labels);
    labels = parsed.labels;
    csvRows = parsed.rows;
    for (const p of parsed.problems) {
      problems.push({
        caseId: p.caseId ?? `(${basename(options.labels)} row ${p.row})`,
        severity: 'error',
        code: p.code,
        reason: p.reason,
        file: options.labels,
        row: p.row,
      });
    }
  }

  // Case folders may be symlinks (splits made of links to the case folders). A link that points
  // nowhere is reported under its name: it was most likely meant to be a case.
  const candidates: string[] = [];
  const brokenLinks: PdcadProblem[] = [];
  const names = entries.map((e) => e.name).sort();
  const byName = new Map(entries.map((e) => [e.name, e]));
  for (const name of names) {
    const entry = byName.get(name)!;
    if (!entry.isDirectory() && !entry.isSymbolicLink()) continue;
    const path = join(dir, name);
    const probe = entry.isSymbolicLink() ? await probePath(path) : ({ kind: 'dir' } as const);
    if (probe.kind === 'broken' || probe.kind === 'loop') {
      brokenLinks.push({
        caseId: name,
        severity: 'error',
        code: 'E_LINK_BROKEN',
        reason: brokenLinkReason(`case folder ${name}`, probe),
        file: path,
      });
      continue;
    }
    if (probe.kind !== 'dir') continue;
    if (/^RJPD_/i.test(name)) {
      candidates.push(name);
      continue;
    }
    for (const role of PDCAD_FILE_ROLES) {
      if (await findFile(path, FILE_NAMES[role])) {
        candidates.push(name);
        break;
      }
    }
  }

  const results = new Array<{ record?: PdcadCase; problems: PdcadProblem[] }>(candidates.length);
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < candidates.length) {
      const idx = next++;
      const id = candidates[idx]!;
      const label = labels?.get(id);
      try {
        results[idx] = await validateCase(id, join(dir, id), label, rois);
      } catch (e) {
        // A bug or an unexpected failure in one case must not take the cohort down.
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
      options.onCase?.(id, ++done, candidates.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, candidates.length) }, worker));

  const cases: PdcadCase[] = [];
  const excluded: string[] = [];
  for (let i = 0; i < candidates.length; i++) {
    const id = candidates[i]!;
    const r = results[i]!;
    if (labels && !labels.has(id) && !problems.some((p) => p.caseId === id)) {
      r.problems.push({
        caseId: id,
        severity: 'warning',
        code: 'W_CASE_NOT_IN_CSV',
        reason: `case folder is not listed in ${basename(options.labels!)}; loaded without a label`,
      });
      r.record?.warnings.push(r.problems[r.problems.length - 1]!);
    }
    const csvError = problems.some((p) => p.caseId === id && p.severity === 'error');
    problems.push(...r.problems);
    if (r.record && !csvError) cases.push(r.record);
    else excluded.push(id);
  }
  for (const p of brokenLinks) {
    problems.push(p);
    excluded.push(p.caseId);
  }
  if (labels) {
    const found = new Set([...candidates, ...brokenLinks.map((p) => p.caseId)]);
    for (const id of [...labels.keys()].sort()) {
      if (!found.has(id)) {
        problems.push({
          caseId: id,
          severity: 'error',
          code: 'E_FILE_NOT_FOUND',
          reason: `listed in ${basename(options.labels!)} but there is no case folder ${join(dir, id)}`,
        });
        excluded.push(id);
      }
    }
  }
  return {
    cases,
    problems,
    excluded: [...new Set(excluded)].sort(),
    caseFolders: candidates.length + brokenLinks.length,
    ...(csvRows !== undefined ? { csvRows } : {}),
  };
}

/** Options of {@link preprocessCase}. */
export interface PreprocessOptions {
  /** ROIs to cut (default {@link MRN_ROIS}). */
  rois?: readonly RoiDefinition[];
  /** Slice canvas side S (default 224). */
  size?: number;
  /** Depth handling of {@link cropRoi} (default `'extend'`). */
  depth?: 'extend' | 'pad';
  /** QSM window and units (defaults: {@link QSM_WINDOW_PPB}, ppb). */
  qsm?: QsmNormalizeOptions;
  /** NM ratio window and how the crus cerebri reference is found. */
  nm?: NmNormalizeOptions & NmReferenceOptions;
  /** `'physical'` (default): QSM window / NM contrast; `'percentile'`: per-ROI 1-99 % (not recommended). */
  intensity?: 'physical' | 'percentile';
  /**
   * When the NM mask holds none of the NM ROIs' labels (a segmentation model missed the SN on NM),
   * take the SN from the co-registered QSM mask instead ({@link PDCAD_QSM_SN_TO_NM}); default true.
   * With false such a case fails with `E_LABEL_MISSING`.
   */
  nmMaskFromQsm?: boolean;
}

/**
 * QSM mask labels standing in for NM mask labels when the NM mask has no SN: `[qsm, nm]` pairs
 * (QSM SN right 11 -> NM SN right 1, left 12 -> 2). QSM and NM are co-registered on one grid.
 */
export const PDCAD_QSM_SN_TO_NM: readonly (readonly [number, number])[] = [
  [11, 1],
  [12, 2],
];

/** One ROI of a preprocessed case. */
export interface CaseRoi extends RoiSlices {
  /** Where the crop sits in the canonical (RAS+) grid and in the world. */
  box: RoiBox;
  /** Fallbacks, cut voxels, padding of the crop. */
  report: RoiCropReport;
}

/** A case preprocessed into model-ready ROI tensors. */
export interface PreprocessedCase {
  /** Case id. */
  caseId: string;
  /** 1 = PD, 0 = HC, `undefined` when unknown. */
  label: number | undefined;
  /** One entry per ROI, in the order of the ROI definitions. */
  rois: CaseRoi[];
  /** The NM reference found in the crus cerebri (when some ROI uses NM). */
  nmReference?: NmReference;
  /** True when the NM mask had no SN and the QSM mask's SN was used ({@link PreprocessOptions.nmMaskFromQsm}). */
  nmMaskFromQsm?: boolean;
}

/** Resolves every preprocessing default, so equal settings compare (and hash) equal. */
export function resolvePreprocessOptions(options: PreprocessOptions = {}): Required<PreprocessOptions> {
  return {
    rois: (options.rois ?? MRN_ROIS).map(validateRoi),
    size: options.size ?? 224,
    depth: options.depth ?? 'extend',
    qsm: { windowPpb: options.qsm?.windowPpb ?? QSM_WINDOW_PPB, unit: options.qsm?.unit ?? 'ppb' },
    nm: {
      window: options.nm?.window ?? NM_RATIO_WINDOW,
      snPairs: options.nm?.snPairs ?? [[1, 2]],
      bandMm: options.nm?.bandMm ?? [1, 5],
      minVoxels: options.nm?.minVoxels ?? 20,
    },
    intensity: options.intensity ?? 'physical',
    nmMaskFromQsm: options.nmMaskFromQsm ?? true,
  };
}

/**
 * Reads a validated case and turns it into ROI tensors: reorient all four volumes to canonical RAS+,
 * find the NM reference (crus cerebri), then per ROI crop ({@link cropRoi}), normalise and slice
 * ({@link roiToSlices}). Deterministic: the same files and options give the same bytes, which is what
 * the ROI cache relies on.
 *
 * @throws MrnError from reading (`E_NIFTI_*`, `E_FILE_NOT_FOUND`), `E_GRID_MISMATCH`,
 *   `E_LABEL_MISSING` (an ROI with no label at all), with the case id.
 */
export async function preprocessCase(
  c: Pick<PdcadCase, 'id' | 'label' | 'files'>,
  options: PreprocessOptions = {},
): Promise<PreprocessedCase> {
  const o = resolvePreprocessOptions(options);
  const needs = new Set(o.rois.map((r) => r.image));
  const read = async (role: PdcadFileRole) => {
    try {
      return reorientToCanonical(await readNifti(c.files[role]));
    } catch (e) {
      if (e instanceof MrnError)
        throw new MrnError(e.code, e.message, { caseId: c.id, file: c.files[role], cause: e });
      throw e;
    }
  };
  const images: Partial<Record<'QSM' | 'NM', { image: Volume; mask: Volume }>> = {};
  for (const img of needs) images[img] = { image: await read(img), mask: await read(`${img}_mask`) };
  let nmMaskFromQsm: boolean | undefined;
  if (images.NM && o.nmMaskFromQsm) {
    const nmLabels = new Set(o.rois.filter((r) => r.image === 'NM').flatMap((r) => r.labels));
    const nmMask = images.NM.mask.data.data;
    let found = false;
    for (let p = 0; p < nmMask.length && !found; p++)
      if (nmMask[p] !== 0 && nmLabels.has(Math.round(nmMask[p]!))) found = true;
    if (!found) {
      const qsmMask = images.QSM?.mask ?? (await read('QSM_mask'));
      checkSameGrid(qsmMask, images.NM.mask);
      const map = new Map(PDCAD_QSM_SN_TO_NM);
      const q = qsmMask.data.data;
      const out = new Uint8Array(q.length);
      for (let p = 0; p < q.length; p++) if (q[p] !== 0) out[p] = map.get(Math.round(q[p]!)) ?? 0;
      images.NM.mask = createVolume(
        out,
        qsmMask.shape,
        images.NM.mask.affine,
        `${c.files.QSM_mask} (SN as NM mask)`,
      );
      nmMaskFromQsm = true;
    }
  }
  let ref: NmReference | undefined;
  if (images.NM && o.intensity === 'physical') {
    try {
      ref = nmReference(images.NM.image, images.NM.mask, o.nm);
    } catch (e) {
      if (e instanceof MrnError)
        throw new MrnError(e.code, e.message, { caseId: c.id, file: c.files.NM, cause: e });
      throw e;
    }
  }
  const rois: CaseRoi[] = [];
  const stats: Partial<Record<'QSM' | 'NM', LabelStats[]>> = {};
  const maxLabel = Math.max(64, ...o.rois.flatMap((r) => r.labels));
  for (const roi of o.rois) {
    const { image, mask } = images[roi.image]!;
    stats[roi.image] ??= maskLabelStats(mask, maxLabel);
    const crop = cropRoi(image, mask, roi, { caseId: c.id, depth: o.depth, labelStats: stats[roi.image] });
    const intensity: RoiIntensity =
      o.intensity === 'percentile'
        ? { kind: 'percentile' }
        : roi.image === 'QSM'
          ? { kind: 'qsm', ...o.qsm }
          : { kind: 'nm', reference: ref!.value, window: o.nm.window };
    const slices = roiToSlices(normalizeRoiImage(crop, intensity), { size: o.size });
    rois.push({ ...slices, box: crop.box, report: crop.report });
  }
  return {
    caseId: c.id,
    label: c.label,
    rois,
    ...(ref ? { nmReference: ref } : {}),
    ...(nmMaskFromQsm ? { nmMaskFromQsm } : {}),
  };
}
