/**
 * Placing one nucleus template in one subject: the template's swept-ellipse shape (an axis with
 * elliptical cross-sections per slab, see `templates.ts`), its girth rescaled to a target volume,
 * perturbed by 2nd/3rd angular harmonics of the cross-section, then rotated, scaled and shifted about
 * a pivot. The result answers, for any world point, how far inside the shape it is.
 */

import type { NucleusPlacement } from './anatomy.js';
import type { NucleusTemplate } from './templates.js';

/**
 * A placed nucleus shape: the template, its rescale to the target volume, and the subject's
 * placement; `inside(x, y, z)` (world mm) says whether a point belongs to it.
 */
export interface PlacedShape {
  /** Subject centroid of the nucleus (approximately), world mm. */
  centre: [number, number, number];
  /** World-space bounding box `[min, max]` (mm) that contains the shape. */
  bounds: [[number, number, number], [number, number, number]];
  /**
   * Signed "radius fraction" of a world point: < 1 inside, > 1 outside (Infinity beyond the ends).
   * `shrink` (0..1) may be a function of the point to thin the shape locally (PD NM loss).
   */
  level(x: number, y: number, z: number): number;
}

/** 3x3 rotation (rows) from x, y, z angles in degrees: R = Rz * Ry * Rx. */
function rotationMatrix(deg: readonly [number, number, number]): number[][] {
  const [ax, ay, az] = deg.map((d) => (d * Math.PI) / 180) as [number, number, number];
  const [cx, sx, cy, sy, cz, sz] = [
    Math.cos(ax),
    Math.sin(ax),
    Math.cos(ay),
    Math.sin(ay),
    Math.cos(az),
    Math.sin(az),
  ];
  return [
    [cz * cy, cz * sy * sx - sz * cx, cz * sy * cx + sz * sx],
    [sz * cy, sz * sy * sx + cz * cx, sz * sy * cx - cz * sx],
    [-sy, cy * sx, cy * cx],
  ];
}

/**
 * Places `template` for one subject. `targetVolumeCm3` rescales the template's cross-section (its
 * girth, not its length) before the subject's own isotropic `placement.scale`; `pivot` is the point rotations and scales act about (default: the
 * template centre; the NM SN uses its side's QSM SN centre so the two move together).
 */
export function placeShape(
  template: NucleusTemplate,
  placement: NucleusPlacement,
  targetVolumeCm3: number,
  pivot: readonly [number, number, number] = template.centre,
  shapeHarmonics: NucleusPlacement = placement,
): PlacedShape {
  // The target volume changes the girth only (cross-section area), not the length: the five real
  // subjects' lengths are what the extents are checked against, and `docs/design.md`'s reference
  // volumes are what the volumes should be near.
  const girth = Math.sqrt(targetVolumeCm3 / template.meanVolumeCm3);
  const slabInfo = whitenSlabs(template.slabs);
  const { toTemplate, toWorld } = placementTransform(placement, pivot);
  const level = crossSectionLevel(template, slabInfo, girth, shapeHarmonics, toTemplate);
  const bounds = worldBounds(template, slabInfo, girth, toWorld);
  return { centre: toWorld(template.centre), bounds, level };
}

/** A slab's cross-section centre `(u, v)`, the Cholesky factor of its matrix, and its reach. */
interface WhitenedSlab {
  u: number;
  v: number;
  l11: number;
  l21: number;
  l22: number;
  rmax: number;
}

/** Precomputes each slab's inverse cross-section matrix and whitening (M = L L^T, Cholesky). */
function whitenSlabs(slabs: NucleusTemplate['slabs']): WhitenedSlab[] {
  return slabs.map(([u, v, muu, muv, mvv]) => {
    const l11 = Math.sqrt(Math.max(muu, 1e-6));
    const l21 = muv / l11;
    const l22 = Math.sqrt(Math.max(mvv - l21 * l21, 1e-6));
    return { u, v, l11, l21, l22, rmax: Math.sqrt(Math.max(muu, mvv)) + Math.hypot(u, v) };
  });
}

type Point3 = [number, number, number];

/**
 * The placement's map between template and world coordinates:
 * world = pivot + shift + s * R (x - pivot)   <=>   x = pivot + R^T (world - pivot - shift) / s.
 */
function placementTransform(
  placement: NucleusPlacement,
  pivot: readonly [number, number, number],
): { toTemplate: (x: number, y: number, z: number) => Point3; toWorld: (p: readonly number[]) => Point3 } {
  const s = placement.scale;
  const R = rotationMatrix(placement.rotationDeg);
  const sh = placement.shiftMm;
  const toTemplate = (x: number, y: number, z: number): Point3 => {
    const dx = x - pivot[0] - sh[0];
    const dy = y - pivot[1] - sh[1];
    const dz = z - pivot[2] - sh[2];
    return [
      pivot[0] + (R[0]![0]! * dx + R[1]![0]! * dy + R[2]![0]! * dz) / s,
      pivot[1] + (R[0]![1]! * dx + R[1]![1]! * dy + R[2]![1]! * dz) / s,
      pivot[2] + (R[0]![2]! * dx + R[1]![2]! * dy + R[2]![2]! * dz) / s,
    ];
  };
  const toWorld = (p: readonly number[]): Point3 => {
    const d = [p[0]! - pivot[0], p[1]! - pivot[1], p[2]! - pivot[2]];
    return [0, 1, 2].map(
      (r) => pivot[r]! + sh[r]! + s * (R[r]![0]! * d[0]! + R[r]![1]! * d[1]! + R[r]![2]! * d[2]!),
    ) as Point3;
  };
  return { toTemplate, toWorld };
}

/**
 * The shape's level function (see {@link PlacedShape.level}): the whitened cross-section radius of
 * the point, interpolated between slabs, divided by the harmonically perturbed unit radius.
 */
function crossSectionLevel(
  template: NucleusTemplate,
  slabInfo: readonly WhitenedSlab[],
  girth: number,
  shapeHarmonics: NucleusPlacement,
  toTemplate: (x: number, y: number, z: number) => Point3,
): (x: number, y: number, z: number) => number {
  const [e1, e2, e3] = template.axes;
  const c = template.centre;
  const n = slabInfo.length;
  const len = template.t1 - template.t0;
  const [a2s, a2e, a3s, a3e] = shapeHarmonics.harmonics;
  const [c2, s2, c3, s3] = [
    Math.cos(shapeHarmonics.phases[0]),
    Math.sin(shapeHarmonics.phases[0]),
    Math.cos(shapeHarmonics.phases[1]),
    Math.sin(shapeHarmonics.phases[1]),
  ];
  return (x: number, y: number, z: number): number => {
    const p = toTemplate(x, y, z);
    const qx = p[0] - c[0];
    const qy = p[1] - c[1];
    const qz = p[2] - c[2];
    const t = qx * e1[0] + qy * e1[1] + qz * e1[2];
    if (t < template.t0 || t > template.t1) return Infinity;
    const tau = (t - template.t0) / len;
    const pos = Math.min(n - 1, Math.max(0, tau * n - 0.5));
    const b0 = Math.min(n - 2, Math.floor(pos));
    const f = pos - b0;
    const A = slabInfo[b0]!;
    const B = slabInfo[b0 + 1]!;
    const u = A.u + f * (B.u - A.u);
    const v = A.v + f * (B.v - A.v);
    const l11 = A.l11 + f * (B.l11 - A.l11);
    const l21 = A.l21 + f * (B.l21 - A.l21);
    const l22 = A.l22 + f * (B.l22 - A.l22);
    const da = (qx * e2[0] + qy * e2[1] + qz * e2[2] - u) / girth;
    const db = (qx * e3[0] + qy * e3[1] + qz * e3[2] - v) / girth;
    // Whitened coordinates: (alpha, beta) = L^-1 (da, db).
    const alpha = da / l11;
    const beta = (db - l21 * alpha) / l22;
    const r2 = alpha * alpha + beta * beta;
    const r = Math.sqrt(r2);
    if (r2 < 1e-12) return 0;
    // cos/sin of 2θ and 3θ without trig.
    const ct = alpha / r;
    const st = beta / r;
    const cos2 = ct * ct - st * st;
    const sin2 = 2 * ct * st;
    const cos3 = ct * (4 * ct * ct - 3);
    const sin3 = st * (3 - 4 * st * st);
    const a2 = a2s + tau * (a2e - a2s);
    const a3 = a3s + tau * (a3e - a3s);
    const radius = 1 + a2 * (cos2 * c2 + sin2 * s2) + a3 * (cos3 * c3 + sin3 * s3);
    return r / radius;
  };
}

/** A world box holding the shape: the template's axis segment, widened by the largest cross-section. */
function worldBounds(
  template: NucleusTemplate,
  slabInfo: readonly WhitenedSlab[],
  girth: number,
  toWorld: (p: readonly number[]) => Point3,
): [Point3, Point3] {
  const [e1] = template.axes;
  const c = template.centre;
  const rmax = Math.max(...slabInfo.map((b) => b.rmax)) * 1.3 * Math.max(1, girth);
  const lo: Point3 = [Infinity, Infinity, Infinity];
  const hi: Point3 = [-Infinity, -Infinity, -Infinity];
  for (const t of [template.t0, template.t1]) {
    for (const sx of [-1, 1]) {
      for (const sy of [-1, 1]) {
        for (const sz of [-1, 1]) {
          const p = [
            c[0] + t * e1[0] + rmax * sx,
            c[1] + t * e1[1] + rmax * sy,
            c[2] + t * e1[2] + rmax * sz,
          ];
          const w = toWorld(p);
          for (let d = 0; d < 3; d++) {
            lo[d] = Math.min(lo[d]!, w[d]!);
            hi[d] = Math.max(hi[d]!, w[d]!);
          }
        }
      }
    }
  }
  // The rotated box's corners bound it only up to the rotation; pad by the rotation's reach.
  const pad = rmax * 0.3 + 1;
  for (let d = 0; d < 3; d++) {
    lo[d] = lo[d]! - pad;
    hi[d] = hi[d]! + pad;
  }
  return [lo, hi];
}
