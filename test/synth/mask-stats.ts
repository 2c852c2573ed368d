/** Per-label volume, world centroid and extent of a label map, measured like measure_real_masks.py. */
import type { Affine } from '../../src/preprocess/volume.js';

export interface LabelStats {
  volumeCm3: number;
  centroidMm: [number, number, number];
  extentMm: [number, number, number];
  slices: number;
}

export function labelStats(
  labels: ArrayLike<number>,
  shape: readonly [number, number, number],
  affine: Affine,
  label: number,
): LabelStats | null {
  const [nx, ny, nz] = shape;
  let n = 0;
  const sum = [0, 0, 0];
  const lo = [Infinity, Infinity, Infinity];
  const hi = [-Infinity, -Infinity, -Infinity];
  let k0 = Infinity;
  let k1 = -Infinity;
  for (let k = 0; k < nz; k++) {
    for (let j = 0; j < ny; j++) {
      for (let i = 0; i < nx; i++) {
        if (labels[(k * ny + j) * nx + i] !== label) continue;
        n++;
        for (let r = 0; r < 3; r++) {
          const w = affine[r]![0]! * i + affine[r]![1]! * j + affine[r]![2]! * k + affine[r]![3]!;
          sum[r] += w;
          lo[r] = Math.min(lo[r]!, w);
          hi[r] = Math.max(hi[r]!, w);
        }
        k0 = Math.min(k0, k);
        k1 = Math.max(k1, k);
      }
    }
  }
  if (n === 0) return null;
  const sp = [0, 1, 2].map((c) => Math.hypot(affine[0]![c]!, affine[1]![c]!, affine[2]![c]!));
  return {
    volumeCm3: (n * sp[0]! * sp[1]! * sp[2]!) / 1000,
    centroidMm: sum.map((s) => s / n) as [number, number, number],
    extentMm: [0, 1, 2].map((r) => hi[r]! - lo[r]! + sp[r]!) as [number, number, number],
    slices: k1 - k0 + 1,
  };
}

/** The real-mask ranges of one label (from real-mask-stats.json). */
export interface RealRange {
  volume_cm3: [number, number];
  centroid_mm: [number[], number[]];
  extent_mm: [number[], number[]];
  slices: [number, number];
}

/**
 * The check: volume within [0.75 min, 1.25 max], centroid and extent within [min - 3, max + 3] mm.
 * Returns the violations as readable strings.
 */
export function outOfRange(s: LabelStats, r: RealRange, what: string): string[] {
  const bad: string[] = [];
  if (s.volumeCm3 < 0.75 * r.volume_cm3[0] || s.volumeCm3 > 1.25 * r.volume_cm3[1]) {
    bad.push(
      `${what} volume ${s.volumeCm3.toFixed(3)} outside [${(0.75 * r.volume_cm3[0]).toFixed(3)}, ${(1.25 * r.volume_cm3[1]).toFixed(3)}]`,
    );
  }
  for (let d = 0; d < 3; d++) {
    const axis = 'xyz'[d];
    if (s.centroidMm[d]! < r.centroid_mm[0][d]! - 3 || s.centroidMm[d]! > r.centroid_mm[1][d]! + 3) {
      bad.push(
        `${what} centroid ${axis} ${s.centroidMm[d]!.toFixed(1)} outside [${(r.centroid_mm[0][d]! - 3).toFixed(1)}, ${(r.centroid_mm[1][d]! + 3).toFixed(1)}]`,
      );
    }
    if (s.extentMm[d]! < r.extent_mm[0][d]! - 3 || s.extentMm[d]! > r.extent_mm[1][d]! + 3) {
      bad.push(
        `${what} extent ${axis} ${s.extentMm[d]!.toFixed(1)} outside [${(r.extent_mm[0][d]! - 3).toFixed(1)}, ${(r.extent_mm[1][d]! + 3).toFixed(1)}]`,
      );
    }
  }
  return bad;
}
