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
import { lrPartners, PDCAD_LR_PAIRS } from './nucleus-labels.js';
import { roiLabelToClass, validateRoi, type RoiDefinition } from './roi-definitions.js';
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
  const [nx, ny, nz] = image.shape;
  const maxLabel = Math.max(...roi.labels, DEFAULT_MAX_LABEL);
  const stats =
    options.labelStats && options.labelStats.length > maxLabel
      ? options.labelStats
      : maskLabelStats(mask, maxLabel);

  const present = roi.labels.filter((l) => stats[l]!.count > 0);
  const missing = roi.labels.filter((l) => stats[l]!.count === 0);
  const labelVoxels: Record<number, number> = {};
  for (const l of roi.labels) labelVoxels[l] = stats[l]!.count;
  if (present.length === 0) {
    throw new MrnError(
      'E_LABEL_MISSING',
      `cropRoi: ROI '${roi.id}' needs mask labels [${roi.labels}], none of which has a voxel; ` +
        'nothing to place the box around',
      { file: mask.name, caseId, details: { roi: roi.id, labels: roi.labels } },
    );
  }

  // Bounding box (inclusive) of the present labels, then the fallbacks.
  const lo: Vec3 = [Infinity, Infinity, Infinity];
  const hi: Vec3 = [-Infinity, -Infinity, -Infinity];
  const include = (a: readonly number[], b: readonly number[]) => {
    for (let d = 0; d < 3; d++) {
      lo[d] = Math.min(lo[d]!, a[d]!);
      hi[d] = Math.max(hi[d]!, b[d]!);
    }
  };
  for (const l of present) include(stats[l]!.min, stats[l]!.max);

  const partner = lrPartners(roi.lrPairs);
  const fallbacks: RoiFallback[] = [];
  let grow = false;
  if (missing.length) {
    const midI = estimateMidlineI(stats, roi.lrPairs, nx);
    for (const l of missing) {
      const p = partner.get(l);
      if (p !== undefined && stats[p]!.count > 0) {
        const s = stats[p]!;
        const a = Math.max(0, Math.min(nx - 1, Math.floor(2 * midI - s.max[0])));
        const b = Math.max(0, Math.min(nx - 1, Math.ceil(2 * midI - s.min[0])));
        include([a, s.min[1], s.min[2]], [b, s.max[1], s.max[2]]);
        fallbacks.push({ label: l, strategy: 'mirror', from: p });
      } else {
        grow = true;
        fallbacks.push({ label: l, strategy: 'typical-extent' });
      }
    }
  }
  if (grow) {
    for (let d = 0; d < 3; d++) {
      const want = Math.ceil(roi.typicalExtentMm[d]! / image.spacing[d]!);
      const have = hi[d]! - lo[d]! + 1;
      if (have < want) {
        const extra = want - have;
        lo[d] = lo[d]! - Math.floor(extra / 2);
        hi[d] = hi[d]! + Math.ceil(extra / 2);
      }
    }
  }

  // Margin (mm -> voxels, rounded up so the margin is at least what was asked).
  const margin = [0, 1, 2].map((d) => Math.ceil(roi.marginMm[d]! / image.spacing[d]! - 1e-9));
  const size = [nx, ny, nz];
  const start: Vec3 = [0, 0, 0];
  const end: Vec3 = [0, 0, 0];
  let clippedInPlane = false;
  for (let d = 0; d < 2; d++) {
    const a = lo[d]! - margin[d]!;
    const b = hi[d]! + margin[d]! + 1;
    start[d] = Math.max(0, a);
    end[d] = Math.min(size[d]!, b);
    if (start[d] !== a || end[d] !== b) clippedInPlane = true;
  }

  // Depth: exactly roi.slices.
  const D = roi.slices;
  const zLo = Math.max(0, lo[2]! - margin[2]!);
  const zHi = Math.min(nz, hi[2]! + margin[2]! + 1); // exclusive
  let kStart: number; // may be < 0 or leave kStart + D > nz: those slices are padding
  if (zHi - zLo >= D) {
    // Too deep: centre-crop on the labelled range (with margin).
    kStart = zLo + Math.floor((zHi - zLo - D) / 2);
  } else if (depthMode === 'extend') {
    kStart = zLo - Math.floor((D - (zHi - zLo)) / 2);
    if (nz >= D) kStart = Math.max(0, Math.min(nz - D, kStart));
    else kStart = -Math.floor((D - nz) / 2);
  } else {
    kStart = zLo - Math.floor((D - (zHi - zLo)) / 2);
  }
  const padBefore = Math.max(0, -kStart);
  if (depthMode === 'pad' && zHi - zLo < D) {
    // Only the labelled slices (+ margin) are real; everything else is padding.
    start[2] = zLo;
    end[2] = zHi;
  } else {
    start[2] = Math.max(0, kStart);
    end[2] = Math.min(nz, kStart + D);
  }
  const before = depthMode === 'pad' && zHi - zLo < D ? start[2] - kStart : padBefore;

  // Labelled voxels of the ROI left outside the box.
  let inside = 0;
  let total = 0;
  for (const l of present) total += stats[l]!.count;
  const lut = roiLabelToClass(roi, maxLabel);
  const roiLabel = new Uint8Array(maxLabel + 1);
  for (const l of roi.labels) roiLabel[l] = 1;

  // Copy the crop.
  const cx = end[0] - start[0];
  const cy = end[1] - start[1];
  const img = new Float32Array(cx * cy * D);
  const cls = new Int32Array(cx * cy * D);
  const src = image.data.data;
  const msk = mask.data.data;
  const valid = new Array<boolean>(D).fill(false);
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

  // The crop's voxel (0,0,0) is input voxel (start_i, start_j, start_k - before).
  const shift: Affine = [
    [1, 0, 0, start[0]],
    [0, 1, 0, start[1]],
    [0, 0, 1, start[2] - before],
    [0, 0, 0, 1],
  ];
  const affine = multiplyAffines(image.affine, shift);
  const name = `${image.name ?? 'image'}#${roi.id}`;
  return {
    roi,
    image: createVolume(img, [cx, cy, D], affine, name),
    mask: createVolume(cls, [cx, cy, D], affine, `${mask.name ?? 'mask'}#${roi.id}`),
    box: {
      start: [...start],
      end: [...end],
      world: {
        first: applyAffine(image.affine, start),
        last: applyAffine(image.affine, [end[0] - 1, end[1] - 1, end[2] - 1]),
      },
    },
    valid,
    report: {
      missingLabels: missing,
      fallbacks,
      cutLabelVoxels: total - inside,
      padBefore: before,
      padAfter: D - before - (end[2] - start[2]),
      clippedInPlane,
      labelVoxels,
    },
  };
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
