/**
 * Turns one validated case into the model's ROI tensors: reorient, NM reference, then per ROI crop,
 * normalise and slice.
 */

import { MrnError } from '../errors.js';
import { readNifti } from '../io/nifti-reader.js';
import { nucleusLrPairs, PDCAD_QSM_SN_TO_NM } from '../preprocess/nucleus-labels.js';
import { reorientToCanonical } from '../preprocess/orientation.js';
import { checkSameGrid } from '../preprocess/resample.js';
import {
  cropRoi,
  maskLabelStats,
  type LabelStats,
  type RoiBox,
  type RoiCropReport,
} from '../preprocess/roi-crop.js';
import { MRN_ROIS, validateRoi, type RoiDefinition } from '../preprocess/roi-definitions.js';
import {
  NM_RATIO_WINDOW,
  nmReference,
  normalizeRoiImage,
  type NmNormalizeOptions,
  type NmReference,
  type NmReferenceOptions,
  type QsmNormalizeOptions,
  QSM_WINDOW_PPB,
  type RoiIntensity,
} from '../preprocess/roi-normalize.js';
import { roiToSlices, type RoiSlices } from '../preprocess/roi-slices.js';
import { createVolume, type Volume } from '../preprocess/volume.js';
import type { PdcadCase, PdcadFileRole } from './pdcad-case.js';

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
      snPairs: options.nm?.snPairs ?? nucleusLrPairs('NM'),
      bandMm: options.nm?.bandMm ?? [1, 5],
      minVoxels: options.nm?.minVoxels ?? 20,
    },
    intensity: options.intensity ?? 'physical',
    nmMaskFromQsm: options.nmMaskFromQsm ?? true,
  };
}

/** A case's volumes in memory, as read (any orientation): the PDCAD roles the ROIs need. */
export interface CaseVolumesInput {
  /** Case id (named in errors). */
  id: string;
  /** 1 = PD, 0 = HC, `undefined` when unknown. */
  label?: number;
  /**
   * The volumes by role ({@link PDCAD_FILE_ROLES}): the image and mask of every image the ROIs use
   * (all four for {@link MRN_ROIS}); `QSM_mask` also when the NM mask may lack the SN
   * ({@link PreprocessOptions.nmMaskFromQsm}). A volume's `name` is reported as the file in errors.
   */
  volumes: Partial<Record<PdcadFileRole, Volume>>;
}

/** The roles {@link preprocessVolumes} always needs for these (resolved) options: each used image and its mask. */
function requiredRoles(o: Required<PreprocessOptions>): PdcadFileRole[] {
  const needs = [...new Set(o.rois.map((r) => r.image))];
  return needs.flatMap((img) => [img, `${img}_mask` as const]);
}

/** True when the NM mask holds none of the NM ROIs' labels, so the QSM mask's SN stands in for it. */
function nmMaskLacksSn(nmMask: Volume, o: Required<PreprocessOptions>): boolean {
  const nmLabels = new Set(o.rois.filter((r) => r.image === 'NM').flatMap((r) => r.labels));
  const m = nmMask.data.data;
  for (let p = 0; p < m.length; p++) if (m[p] !== 0 && nmLabels.has(Math.round(m[p]!))) return false;
  return true;
}

/** Rethrows an `MrnError` with the case id and `file`; anything else unchanged. */
function inCase(e: unknown, caseId: string, file: string | undefined): never {
  if (e instanceof MrnError) throw new MrnError(e.code, e.message, { caseId, file, cause: e });
  throw e;
}

/**
 * Reads a validated case and turns it into ROI tensors: reads the volumes the ROIs need, then
 * {@link preprocessVolumes}. Deterministic: the same files and options give the same bytes, which is
 * what the ROI cache relies on.
 *
 * @throws MrnError from reading (`E_NIFTI_*`, `E_FILE_NOT_FOUND`), `E_GRID_MISMATCH`,
 *   `E_LABEL_MISSING` (an ROI with no label at all), with the case id.
 */
export async function preprocessCase(
  c: Pick<PdcadCase, 'id' | 'label' | 'files'>,
  options: PreprocessOptions = {},
): Promise<PreprocessedCase> {
  const o = resolvePreprocessOptions(options);
  const read = async (role: PdcadFileRole) => {
    try {
      return await readNifti(c.files[role]);
    } catch (e) {
      return inCase(e, c.id, c.files[role]);
    }
  };
  const volumes: Partial<Record<PdcadFileRole, Volume>> = {};
  for (const role of requiredRoles(o)) volumes[role] = await read(role);
  // The QSM mask is read only when the NM mask's SN is missing and it must stand in.
  if (volumes.NM_mask && o.nmMaskFromQsm && !volumes.QSM_mask && nmMaskLacksSn(volumes.NM_mask, o))
    volumes.QSM_mask = await read('QSM_mask');
  return preprocessVolumes({ id: c.id, label: c.label, volumes }, o);
}

/**
 * Turns a case's volumes (in memory, as decoded: {@link decodeNifti} in a browser, {@link readNifti}
 * in Node) into ROI tensors: reorient all of them to canonical RAS+, find the NM reference (crus
 * cerebri), then per ROI crop ({@link cropRoi}), normalise and slice ({@link roiToSlices}). Pure and
 * deterministic; {@link preprocessCase} is this after reading the files, so both give the same bytes.
 *
 * @throws MrnError `E_INVALID_ARGUMENT` when a needed volume is missing, `E_GRID_MISMATCH`,
 *   `E_LABEL_MISSING` (an ROI with no label at all), with the case id and the volume's name as file.
 *
 * @example
 * ```ts
 * const volumes = Object.fromEntries(PDCAD_FILE_ROLES.map((r) => [r, decodeNifti(bytes[r], { name: r })]));
 * const pre = preprocessVolumes({ id: 'case1', volumes }, { size: 224 });
 * ```
 */
export function preprocessVolumes(c: CaseVolumesInput, options: PreprocessOptions = {}): PreprocessedCase {
  const o = resolvePreprocessOptions(options);
  const canonical = (role: PdcadFileRole): Volume => {
    const v = c.volumes[role];
    if (!v)
      throw new MrnError('E_INVALID_ARGUMENT', `preprocessVolumes: the case lacks its ${role} volume`, {
        caseId: c.id,
      });
    try {
      return reorientToCanonical(v);
    } catch (e) {
      return inCase(e, c.id, v.name);
    }
  };
  const images: Partial<Record<'QSM' | 'NM', { image: Volume; mask: Volume }>> = {};
  for (const img of new Set(o.rois.map((r) => r.image)))
    images[img] = { image: canonical(img), mask: canonical(`${img}_mask`) };
  let nmMaskFromQsm: boolean | undefined;
  if (images.NM && o.nmMaskFromQsm && nmMaskLacksSn(images.NM.mask, o)) {
    const qsmMask = images.QSM?.mask ?? canonical('QSM_mask');
    checkSameGrid(qsmMask, images.NM.mask);
    const map = new Map(PDCAD_QSM_SN_TO_NM);
    const q = qsmMask.data.data;
    const out = new Uint8Array(q.length);
    for (let p = 0; p < q.length; p++) if (q[p] !== 0) out[p] = map.get(Math.round(q[p]!)) ?? 0;
    images.NM.mask = createVolume(
      out,
      qsmMask.shape,
      images.NM.mask.affine,
      `${qsmMask.name} (SN as NM mask)`,
    );
    nmMaskFromQsm = true;
  }
  let ref: NmReference | undefined;
  if (images.NM && o.intensity === 'physical') {
    try {
      ref = nmReference(images.NM.image, images.NM.mask, o.nm);
    } catch (e) {
      inCase(e, c.id, images.NM.image.name);
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
