/**
 * Cutting one region of interest out of a co-registered image and its nucleus mask: the bounding box
 * of the ROI's labels plus a margin, made exactly `roi.slices` deep, with the mask remapped to the
 * ROI's segmentation classes and the box kept in voxel and world coordinates so predictions can be
 * mapped back.
 *
 * Missing nuclei (a segmentation model missed one) are handled, in this order, and reported:
 * 1. `mirror`: a nucleus whose left/right partner is present gets the partner's box mirrored about the
 *    mid-sagittal plane (estimated from the centroids of bilateral label pairs, see {@link estimateMidlineI});
 * 2. `typical-extent`: if the partner is missing too, the box of whatever is present is grown
 *    (symmetrically) to at least the ROI's `typicalExtentMm`, so the region the nucleus should occupy
 *    is still inside the crop.
 * When no label of the ROI is present at all there is nothing to anchor a box to, and cropRoi throws
 * `E_LABEL_MISSING`. The mask itself is never invented: a missing nucleus stays background.
 */

import { MrnError } from '../errors.js';
import { applyAffine, invertAffine, multiplyAffines } from './affine.js';
import { aff2axcodes } from './orientation.js';
import { checkSameGrid } from './resample.js';
import { PDCAD_LR_PAIRS } from './nucleus-labels.js';
import { roiLabelToClass, validateRoi, type RoiDefinition } from './roi-definitions.js';
import {
  depthWindow,
  growToTypicalExtent,
  inPlaneWindow,
  labelBoundingBox,
  marginVoxels,
  mirrorMissingLabels,
} from './roi-crop-box.js';
import { createVolume, type Affine, type Volume } from './volume.js';

/** Three numbers along i, j, k (or x, y, z). */
export type Vec3 = [number, number, number];

/** Where an ROI crop sits in the volume it was cut from. */
export interface RoiBox {
  /** First voxel `[i, j, k]` of the box, in the grid of the volumes passed to {@link cropRoi}. */
  start: Vec3;
  /** One past the last voxel `[i, j, k]` (exclusive). The box always lies inside the volume. */
  end: Vec3;
  /**
   * World coordinates (RAS+ mm) of the centres of the box's two corner voxels, `start` and `end - 1`.
   * {@link worldBoxToVoxels} maps them back onto the voxels of any volume.
   */
  world: { first: Vec3; last: Vec3 };
}

/** A missing nucleus and how the box was made to cover where it should be. */
export interface RoiFallback {
  /** The mask label with no voxels. */
  label: number;
  /** `mirror`: partner's box mirrored about the midline; `typical-extent`: box grown to the typical size. */
  strategy: 'mirror' | 'typical-extent';
  /** For `mirror`: the partner label whose box was mirrored. */
  from?: number;
}

/** What {@link cropRoi} had to do beyond a plain crop. */
export interface RoiCropReport {
  /** ROI labels with no voxels in the mask. */
  missingLabels: number[];
  /** How each missing label was handled. */
  fallbacks: RoiFallback[];
  /** Labelled voxels (of the ROI's labels) left outside the crop because `roi.slices` is too small. */
  cutLabelVoxels: number;
  /** Slices added before / after the volume (zeros, `valid` false) when the volume is too shallow. */
  padBefore: number;
  /** See `padBefore`. */
  padAfter: number;
  /** Whether the box (with margin) had to be clipped at the volume's edge in-plane. */
  clippedInPlane: boolean;
  /** Labelled voxels per ROI label in the whole mask. */
  labelVoxels: Record<number, number>;
}

/** The result of {@link cropRoi}. */
export interface RoiCrop {
  /** The ROI definition the crop was made for. */
  roi: RoiDefinition;
  /** Image crop, float32, exactly `roi.slices` deep; its affine places it in the world. */
  image: Volume<Float32Array>;
  /** Class mask crop (class ids of `roi.classes`), same grid as `image`. */
  mask: Volume<Int32Array>;
  /** The box in the input grid and in world coordinates. */
  box: RoiBox;
  /** Per slice of the crop: false for slices padded beyond the volume. */
  valid: boolean[];
  /** Fallbacks, cut voxels, padding. */
  report: RoiCropReport;
}

/** Options of {@link cropRoi}. */
export interface CropRoiOptions {
  /**
   * How the labelled depth is made exactly `roi.slices`: `extend` (default) takes the neighbouring
   * real slices (centred; shifted inward at the volume's edge; zero slices only when the volume
   * itself is too shallow), so every ROI covers the same physical depth; `pad` keeps only the
   * labelled slices plus margin and fills up with zero slices marked invalid.
   */
  depth?: 'extend' | 'pad';
  /** Case id for error messages and reports. */
  caseId?: string;
  /**
   * {@link maskLabelStats} of `mask`, when already computed (must come from this very mask, covering
   * every label of the ROI).
   */
  labelStats?: LabelStats[];
}

/**
 * True when the volume's voxel axes run, closest-axis-wise, along +x (R), +y (A), +z (S): the layout
 * nibabel's `as_closest_canonical` and {@link reorientToCanonical} produce (obliquity allowed).
 */
export function isCanonicalRas(affine: Affine): boolean {
  return aff2axcodes(affine) === 'RAS';
}

function requireCanonical(v: Volume, what: string, caseId?: string): void {
  if (!isCanonicalRas(v.affine)) {
    throw new MrnError(
      'E_ORIENTATION',
      `cropRoi: ${what} is not in canonical RAS+ orientation; call reorientToCanonical() first ` +
        `(axial must be the third axis, i toward patient right, j toward anterior)`,
      { file: v.name, caseId, details: { affine: v.affine } },
    );
  }
}

/** Voxel count, bounding box and i-centroid sum of one mask label. */
export interface LabelStats {
  /** Voxels with this label. */
  count: number;
  /** Smallest `[i, j, k]` (Infinity when absent). */
  min: Vec3;
  /** Largest `[i, j, k]`, inclusive (-Infinity when absent). */
  max: Vec3;
  /** Sum of the voxels' i indices (for the centroid). */
  sumI: number;
}

/** Default highest label {@link maskLabelStats} tracks (PDCAD masks use 1-16). */
const DEFAULT_MAX_LABEL = 64;

/**
 * Per-label statistics of a mask for labels 0..maxLabel, in one pass. {@link cropRoi} computes them
 * itself; pass them in (`options.labelStats`) to share one pass between the ROIs of the same mask.
 */
export function maskLabelStats(mask: Volume, maxLabel = DEFAULT_MAX_LABEL): LabelStats[] {
  const stats: LabelStats[] = Array.from({ length: maxLabel + 1 }, () => ({
    count: 0,
    min: [Infinity, Infinity, Infinity],
    max: [-Infinity, -Infinity, -Infinity],
    sumI: 0,
  }));
  const [nx, ny, nz] = mask.shape;
  const d = mask.data.data;
  let p = 0;
  for (let k = 0; k < nz; k++) {
    for (let j = 0; j < ny; j++) {
      for (let i = 0; i < nx; i++, p++) {
        const v = d[p]!;
        if (v === 0) continue;
        const l = Math.round(v);
        if (l < 1 || l > maxLabel) continue;
        const s = stats[l]!;
        s.count++;
        s.sumI += i;
        if (i < s.min[0]) s.min[0] = i;
        if (i > s.max[0]) s.max[0] = i;
        if (j < s.min[1]) s.min[1] = j;
        if (j > s.max[1]) s.max[1] = j;
        if (k < s.min[2]) s.min[2] = k;
        if (k > s.max[2]) s.max[2] = k;
      }
    }
  }
  return stats;
}

/**
 * The voxel column `i` of the mid-sagittal plane: the mean, over left/right label pairs with both
 * sides present, of the midpoint of the two centroids. Pairs come from `pairs` (the ROI's own) or,
 * when none of those is complete, from every pair of the challenge's masks ({@link PDCAD_LR_PAIRS});
 * with no complete pair at all, the volume's centre column.
 */
export function estimateMidlineI(
  stats: readonly { count: number; sumI: number }[],
  pairs: readonly (readonly [number, number])[],
  nx: number,
): number {
  const mid = (ps: readonly (readonly [number, number])[]) => {
    const mids = ps
      .filter(([r, l]) => (stats[r]?.count ?? 0) > 0 && (stats[l]?.count ?? 0) > 0)
      .map(([r, l]) => 0.5 * (stats[r]!.sumI / stats[r]!.count + stats[l]!.sumI / stats[l]!.count));
    return mids.length ? mids.reduce((a, b) => a + b, 0) / mids.length : undefined;
  };
  return mid(pairs) ?? mid(PDCAD_LR_PAIRS) ?? (nx - 1) / 2;
}

/**
 * Cuts `roi` out of `image` using `mask` (both canonical RAS+, same grid).
 *
 * Steps: bounding box of the ROI's labels (with the documented fallbacks for missing ones), plus
 * `roi.marginMm` converted to voxels with the volume's spacing (rounded up), clipped to the volume
 * in-plane; then the depth is made exactly `roi.slices` (see {@link CropRoiOptions.depth}). If the
 * labelled depth exceeds `roi.slices` the box is centre-cropped and the labelled voxels cut off are
 * counted in `report.cutLabelVoxels`.
 *
 * @throws MrnError `E_ORIENTATION` when a volume is not canonical RAS+; `E_GRID_MISMATCH` when image
 *   and mask grids differ; `E_LABEL_MISSING` when no label of the ROI is present; `E_CONFIG` for an
 *   invalid ROI definition.
 */
export function cropRoi(
  image: Volume,
  mask: Volume,
  roi: RoiDefinition,
  options: CropRoiOptions = {},
): RoiCrop {
  validateRoi(roi);
  const { caseId, depth: depthMode = 'extend' } = options;
  checkCropInputs(image, mask, caseId);
  const [nx, ny, nz] = image.shape;
  const maxLabel = Math.max(...roi.labels, DEFAULT_MAX_LABEL);
  const stats =
    options.labelStats && options.labelStats.length > maxLabel
      ? options.labelStats
      : maskLabelStats(mask, maxLabel);

  const { present, missing, labelVoxels } = roiLabelPresence(stats, roi, mask.name, caseId);

  // Bounding box (inclusive) of the present labels, then the fallbacks for the missing ones.
  let box = labelBoundingBox(stats, present);
  let fallbacks: RoiFallback[] = [];
  if (missing.length) {
    const midI = estimateMidlineI(stats, roi.lrPairs, nx);
    ({ box, fallbacks } = mirrorMissingLabels(box, stats, roi.lrPairs, missing, midI, nx));
  }
  if (fallbacks.some((f) => f.strategy === 'typical-extent')) {
    box = growToTypicalExtent(box, roi.typicalExtentMm, image.spacing);
  }

  const margin = marginVoxels(roi.marginMm, image.spacing);
  const inPlane = inPlaneWindow(box, margin, nx, ny);
  const depth = depthWindow(box, margin[2]!, nz, roi.slices, depthMode);
  const start: Vec3 = [inPlane.start[0], inPlane.start[1], depth.start];
  const end: Vec3 = [inPlane.end[0], inPlane.end[1], depth.end];

  const copy = copyCrop(image, mask, roi, maxLabel, start, end, depth.before);
  let total = 0;
  for (const l of present) total += stats[l]!.count;

  const D = roi.slices;
  const affine = cropAffine(image.affine, start, depth.before);
  const [cx, cy] = [end[0] - start[0], end[1] - start[1]];
  return {
    roi,
    image: createVolume(copy.image, [cx, cy, D], affine, `${image.name ?? 'image'}#${roi.id}`),
    mask: createVolume(copy.classes, [cx, cy, D], affine, `${mask.name ?? 'mask'}#${roi.id}`),
    box: {
      start: [...start],
      end: [...end],
      world: {
        first: applyAffine(image.affine, start),
        last: applyAffine(image.affine, [end[0] - 1, end[1] - 1, end[2] - 1]),
      },
    },
    valid: copy.valid,
    report: {
      missingLabels: missing,
      fallbacks,
      cutLabelVoxels: total - copy.labelledInside,
      padBefore: depth.before,
      padAfter: D - depth.before - (end[2] - start[2]),
      clippedInPlane: inPlane.clipped,
      labelVoxels,
    },
  };
}

/** The ROI's labels with and without voxels, and each one's voxel count; throws when none has any. */
function roiLabelPresence(
  stats: readonly LabelStats[],
  roi: RoiDefinition,
  maskName: string | undefined,
  caseId: string | undefined,
): { present: number[]; missing: number[]; labelVoxels: Record<number, number> } {
  const present = roi.labels.filter((l) => stats[l]!.count > 0);
  const missing = roi.labels.filter((l) => stats[l]!.count === 0);
  const labelVoxels: Record<number, number> = {};
  for (const l of roi.labels) labelVoxels[l] = stats[l]!.count;
  if (present.length === 0) {
    throw new MrnError(
      'E_LABEL_MISSING',
      `cropRoi: ROI '${roi.id}' needs mask labels [${roi.labels}], none of which has a voxel; ` +
        'nothing to place the box around',
      { file: maskName, caseId, details: { roi: roi.id, labels: roi.labels } },
    );
  }
  return { present, missing, labelVoxels };
}

/** cropRoi's input checks: both volumes canonical RAS+ and on one grid. */
function checkCropInputs(image: Volume, mask: Volume, caseId: string | undefined): void {
  requireCanonical(image, `image ${image.name ?? ''}`.trim(), caseId);
  requireCanonical(mask, `mask ${mask.name ?? ''}`.trim(), caseId);
  try {
    checkSameGrid(image, mask);
  } catch (e) {
    const err = e as MrnError;
    throw new MrnError(err.code, `cropRoi: ${err.message}`, {
      file: mask.name,
      caseId,
      details: err.details,
      cause: e,
    });
  }
}

/**
 * Copies the box `start..end` of image and mask into a crop `roi.slices` deep, real slices from
 * `before` on, mapping mask labels to the ROI's classes; counts the ROI's labelled voxels inside.
 */
function copyCrop(
  image: Volume,
  mask: Volume,
  roi: RoiDefinition,
  maxLabel: number,
  start: Vec3,
  end: Vec3,
  before: number,
): { image: Float32Array; classes: Int32Array; valid: boolean[]; labelledInside: number } {
  const [nx, ny] = image.shape;
  const D = roi.slices;
  const lut = roiLabelToClass(roi, maxLabel);
  const roiLabel = new Uint8Array(maxLabel + 1);
  for (const l of roi.labels) roiLabel[l] = 1;
  const cx = end[0] - start[0];
  const cy = end[1] - start[1];
  const img = new Float32Array(cx * cy * D);
  const cls = new Int32Array(cx * cy * D);
  const src = image.data.data;
  const msk = mask.data.data;
  const valid = new Array<boolean>(D).fill(false);
  let inside = 0;
  for (let k = start[2]; k < end[2]; k++) {
    const z = k - start[2] + before;
    valid[z] = true;
    for (let j = start[1]; j < end[1]; j++) {
      let p = start[0] + nx * (j + ny * k);
      let q = cx * (j - start[1] + cy * z);
      for (let i = start[0]; i < end[0]; i++, p++, q++) {
        img[q] = src[p]!;
        const m = msk[p]!;
        if (m !== 0) {
          const l = Math.round(m);
          if (l > 0 && l <= maxLabel) {
            cls[q] = lut[l]!;
            inside += roiLabel[l]!;
          }
        }
      }
    }
  }
  return { image: img, classes: cls, valid, labelledInside: inside };
}

/** The crop's affine: its voxel (0,0,0) is input voxel (start_i, start_j, start_k - before). */
function cropAffine(affine: Affine, start: Vec3, before: number): Affine {
  const shift: Affine = [
    [1, 0, 0, start[0]],
    [0, 1, 0, start[1]],
    [0, 0, 1, start[2] - before],
    [0, 0, 0, 1],
  ];
  return multiplyAffines(affine, shift);
}

/**
 * Maps a crop box's world corners back onto the voxel grid of `volume` (any volume in the same
 * world space, e.g. the original before reorientation): the inclusive-exclusive voxel range whose
 * corner voxel centres are `world.first` and `world.last`, each axis sorted ascending.
 */
export function worldBoxToVoxels(
  world: RoiBox['world'],
  volume: Pick<Volume, 'affine'>,
): { start: Vec3; end: Vec3 } {
  const inv = invertAffine(volume.affine);
  const a = applyAffine(inv, world.first).map(Math.round);
  const b = applyAffine(inv, world.last).map(Math.round);
  const start: Vec3 = [0, 0, 0];
  const end: Vec3 = [0, 0, 0];
  for (let d = 0; d < 3; d++) {
    start[d] = Math.min(a[d]!, b[d]!);
    end[d] = Math.max(a[d]!, b[d]!) + 1;
  }
  return { start, end };
}
