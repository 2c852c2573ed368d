/**
 * Where an ROI crop lies in its volume, step by step (the geometry half of `cropRoi`, after
 * MONAI's `CropForeground`): the bounding box of the ROI's labels, the fallbacks for missing ones
 * (mirror the partner, else grow to the typical extent), the margin, and the in-plane and depth
 * windows. Pure functions of label statistics and sizes; the copy itself stays in `roi-crop.ts`.
 */

import { lrPartners } from './nucleus-labels.js';
import type { LabelStats, RoiFallback, Vec3 } from './roi-crop.js';

/** An inclusive voxel box `lo..hi` (may reach outside the volume before clipping). */
export interface VoxelBox {
  /** First voxel `[i, j, k]`. */
  lo: Vec3;
  /** Last voxel `[i, j, k]` (inclusive). */
  hi: Vec3;
}

/** The box grown (never shrunk) to hold the inclusive range `a..b`. */
function includeRange(box: VoxelBox, a: readonly number[], b: readonly number[]): VoxelBox {
  const lo: Vec3 = [...box.lo];
  const hi: Vec3 = [...box.hi];
  for (let d = 0; d < 3; d++) {
    lo[d] = Math.min(lo[d]!, a[d]!);
    hi[d] = Math.max(hi[d]!, b[d]!);
  }
  return { lo, hi };
}

/** The joint inclusive bounding box of the `present` labels. */
export function labelBoundingBox(stats: readonly LabelStats[], present: readonly number[]): VoxelBox {
  let box: VoxelBox = { lo: [Infinity, Infinity, Infinity], hi: [-Infinity, -Infinity, -Infinity] };
  for (const l of present) box = includeRange(box, stats[l]!.min, stats[l]!.max);
  return box;
}

/**
 * Fallback 1 for each missing label: its partner's box (from `lrPairs`) mirrored about the
 * mid-sagittal column `midI` (from `estimateMidlineI`), when the partner is present; otherwise
 * the label is marked `typical-extent` (see {@link growToTypicalExtent}).
 */
export function mirrorMissingLabels(
  box: VoxelBox,
  stats: readonly LabelStats[],
  lrPairs: readonly (readonly [number, number])[],
  missing: readonly number[],
  midI: number,
  nx: number,
): { box: VoxelBox; fallbacks: RoiFallback[] } {
  const fallbacks: RoiFallback[] = [];
  const partner = lrPartners(lrPairs);
  for (const l of missing) {
    const p = partner.get(l);
    if (p !== undefined && stats[p]!.count > 0) {
      const s = stats[p]!;
      const a = Math.max(0, Math.min(nx - 1, Math.floor(2 * midI - s.max[0])));
      const b = Math.max(0, Math.min(nx - 1, Math.ceil(2 * midI - s.min[0])));
      box = includeRange(box, [a, s.min[1], s.min[2]], [b, s.max[1], s.max[2]]);
      fallbacks.push({ label: l, strategy: 'mirror', from: p });
    } else {
      fallbacks.push({ label: l, strategy: 'typical-extent' });
    }
  }
  return { box, fallbacks };
}

/** Fallback 2: the box grown symmetrically along each axis to at least `typicalExtentMm`. */
export function growToTypicalExtent(
  box: VoxelBox,
  typicalExtentMm: readonly number[],
  spacing: readonly number[],
): VoxelBox {
  const lo: Vec3 = [...box.lo];
  const hi: Vec3 = [...box.hi];
  for (let d = 0; d < 3; d++) {
    const want = Math.ceil(typicalExtentMm[d]! / spacing[d]!);
    const have = hi[d]! - lo[d]! + 1;
    if (have < want) {
      const extra = want - have;
      lo[d] = lo[d]! - Math.floor(extra / 2);
      hi[d] = hi[d]! + Math.ceil(extra / 2);
    }
  }
  return { lo, hi };
}

/** The margin in voxels per axis, rounded up so it is at least what was asked in mm. */
export function marginVoxels(marginMm: readonly number[], spacing: readonly number[]): number[] {
  return [0, 1, 2].map((d) => Math.ceil(marginMm[d]! / spacing[d]! - 1e-9));
}

/** The box plus margin along i and j, clipped to the volume; `clipped` when the edge cut it. */
export function inPlaneWindow(
  box: VoxelBox,
  margin: readonly number[],
  nx: number,
  ny: number,
): { start: [number, number]; end: [number, number]; clipped: boolean } {
  const size = [nx, ny];
  const start: [number, number] = [0, 0];
  const end: [number, number] = [0, 0];
  let clipped = false;
  for (let d = 0; d < 2; d++) {
    const a = box.lo[d]! - margin[d]!;
    const b = box.hi[d]! + margin[d]! + 1;
    start[d] = Math.max(0, a);
    end[d] = Math.min(size[d]!, b);
    if (start[d] !== a || end[d] !== b) clipped = true;
  }
  return { start, end, clipped };
}

/**
 * The real slices `start..end` (exclusive) of a crop exactly `D` deep, and how many zero slices come
 * `before` them; see {@link CropRoiOptions.depth} for the two modes.
 */
export function depthWindow(
  box: VoxelBox,
  margin: number,
  nz: number,
  D: number,
  depthMode: 'extend' | 'pad',
): { start: number; end: number; before: number } {
  const zLo = Math.max(0, box.lo[2] - margin);
  const zHi = Math.min(nz, box.hi[2] + margin + 1); // exclusive
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
  if (depthMode === 'pad' && zHi - zLo < D) {
    // Only the labelled slices (+ margin) are real; everything else is padding.
    return { start: zLo, end: zHi, before: zLo - kStart };
  }
  return { start: Math.max(0, kStart), end: Math.min(nz, kStart + D), before: Math.max(0, -kStart) };
}
