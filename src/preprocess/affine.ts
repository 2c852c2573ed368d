/**
 * Small 4x4 affine helpers (rows, float64) used by the NIfTI reader/writer and the geometry functions.
 * Written out by hand: these run a handful of times per volume, so clarity beats speed.
 */

import type { Affine } from './volume.js';

/** The 4x4 identity. */
export function identityAffine(): Affine {
  return [
    [1, 0, 0, 0],
    [0, 1, 0, 0],
    [0, 0, 1, 0],
    [0, 0, 0, 1],
  ];
}

/** `a · b` for two 4x4 matrices given as rows. */
export function multiplyAffines(a: Affine, b: Affine): Affine {
  const out: Affine = [];
  for (let r = 0; r < 4; r++) {
    const row: number[] = [];
    for (let c = 0; c < 4; c++) {
      let s = 0;
      for (let k = 0; k < 4; k++) s += a[r]![k]! * b[k]![c]!;
      row.push(s);
    }
    out.push(row);
  }
  return out;
}

/** Determinant of a 3x3 matrix (rows). */
export function det3(m: number[][]): number {
  const [a, b, c] = m as [number[], number[], number[]];
  return (
    a[0]! * (b[1]! * c[2]! - b[2]! * c[1]!) -
    a[1]! * (b[0]! * c[2]! - b[2]! * c[0]!) +
    a[2]! * (b[0]! * c[1]! - b[1]! * c[0]!)
  );
}

/** Inverse of a 3x3 matrix (rows); throws a plain Error when singular (callers wrap it). */
export function invert3(m: number[][]): number[][] {
  const d = det3(m);
  if (d === 0 || !Number.isFinite(d)) throw new Error('singular 3x3 matrix');
  const [a, b, c] = m as [number[], number[], number[]];
  return [
    [
      (b[1]! * c[2]! - b[2]! * c[1]!) / d,
      (a[2]! * c[1]! - a[1]! * c[2]!) / d,
      (a[1]! * b[2]! - a[2]! * b[1]!) / d,
    ],
    [
      (b[2]! * c[0]! - b[0]! * c[2]!) / d,
      (a[0]! * c[2]! - a[2]! * c[0]!) / d,
      (a[2]! * b[0]! - a[0]! * b[2]!) / d,
    ],
    [
      (b[0]! * c[1]! - b[1]! * c[0]!) / d,
      (a[1]! * c[0]! - a[0]! * c[1]!) / d,
      (a[0]! * b[1]! - a[1]! * b[0]!) / d,
    ],
  ];
}

/** Inverse of an affine 4x4 (last row `[0,0,0,1]`); throws a plain Error when singular. */
export function invertAffine(a: Affine): Affine {
  const r = invert3([a[0]!.slice(0, 3), a[1]!.slice(0, 3), a[2]!.slice(0, 3)]);
  const t = [a[0]![3]!, a[1]![3]!, a[2]![3]!];
  const out: Affine = [];
  for (let i = 0; i < 3; i++) {
    const row = r[i]!;
    out.push([row[0]!, row[1]!, row[2]!, -(row[0]! * t[0]! + row[1]! * t[1]! + row[2]! * t[2]!)]);
  }
  out.push([0, 0, 0, 1]);
  return out;
}

/** Applies an affine to a point `[x, y, z]`. */
export function applyAffine(a: Affine, p: readonly number[]): [number, number, number] {
  const [x, y, z] = [p[0]!, p[1]!, p[2]!];
  return [
    a[0]![0]! * x + a[0]![1]! * y + a[0]![2]! * z + a[0]![3]!,
    a[1]![0]! * x + a[1]![1]! * y + a[1]![2]! * z + a[1]![3]!,
    a[2]![0]! * x + a[2]![1]! * y + a[2]![2]! * z + a[2]![3]!,
  ];
}

/** The 3x3 rotation matrix of a quaternion `(w, x, y, z)`, exactly as nibabel's `quat2mat`. */
export function quaternionToMatrix(w: number, x: number, y: number, z: number): number[][] {
  const nq = w * w + x * x + y * y + z * z;
  if (nq < Number.EPSILON) {
    return [
      [1, 0, 0],
      [0, 1, 0],
      [0, 0, 1],
    ];
  }
  const s = 2 / nq;
  const X = x * s;
  const Y = y * s;
  const Z = z * s;
  const wX = w * X;
  const wY = w * Y;
  const wZ = w * Z;
  const xX = x * X;
  const xY = x * Y;
  const xZ = x * Z;
  const yY = y * Y;
  const yZ = y * Z;
  const zZ = z * Z;
  return [
    [1 - (yY + zZ), xY - wZ, xZ + wY],
    [xY + wZ, 1 - (xX + zZ), yZ - wX],
    [xZ - wY, yZ + wX, 1 - (xX + yY)],
  ];
}

/** The closest orthogonal matrix to `m` (polar decomposition by Newton iteration, as SVD's `P·Qᵀ`). */
export function closestOrthogonal(m: number[][]): number[][] {
  let x = m.map((r) => [...r]);
  for (let it = 0; it < 100; it++) {
    const inv = invert3(x);
    // x <- (x + x^{-T}) / 2
    const next = x.map((row, i) => row.map((v, j) => 0.5 * (v + inv[j]![i]!)));
    let diff = 0;
    for (let i = 0; i < 3; i++)
      for (let j = 0; j < 3; j++) diff = Math.max(diff, Math.abs(next[i]![j]! - x[i]![j]!));
    x = next;
    if (diff < 1e-15) break;
  }
  return x;
}

/**
 * Quaternion `(b, c, d)` (with `a >= 0`) of a proper rotation matrix, the inverse of
 * {@link quaternionToMatrix} (the NIfTI reference library's `nifti_mat44_to_quatern` method).
 */
export function matrixToQuaternion(r: number[][]): [number, number, number] {
  const [r11, r12, r13] = r[0] as [number, number, number];
  const [r21, r22, r23] = r[1] as [number, number, number];
  const [r31, r32, r33] = r[2] as [number, number, number];
  let a = r11 + r22 + r33 + 1;
  let b: number;
  let c: number;
  let d: number;
  if (a > 0.5) {
    a = 0.5 * Math.sqrt(a);
    b = (0.25 * (r32 - r23)) / a;
    c = (0.25 * (r13 - r31)) / a;
    d = (0.25 * (r21 - r12)) / a;
  } else {
    const xd = 1 + r11 - (r22 + r33);
    const yd = 1 + r22 - (r11 + r33);
    const zd = 1 + r33 - (r11 + r22);
    if (xd > 1) {
      b = 0.5 * Math.sqrt(xd);
      c = (0.25 * (r12 + r21)) / b;
      d = (0.25 * (r13 + r31)) / b;
      a = (0.25 * (r32 - r23)) / b;
    } else if (yd > 1) {
      c = 0.5 * Math.sqrt(yd);
      b = (0.25 * (r12 + r21)) / c;
      d = (0.25 * (r23 + r32)) / c;
      a = (0.25 * (r13 - r31)) / c;
    } else {
      d = 0.5 * Math.sqrt(zd);
      b = (0.25 * (r13 + r31)) / d;
      c = (0.25 * (r23 + r32)) / d;
      a = (0.25 * (r21 - r12)) / d;
    }
    if (a < 0) {
      b = -b;
      c = -c;
      d = -d;
    }
  }
  return [b, c, d];
}

/** The parameters a NIfTI qform stores for an affine: quaternion, offsets, zooms and qfac. */
export interface QformParams {
  quatern: [number, number, number];
  offset: [number, number, number];
  zooms: [number, number, number];
  qfac: 1 | -1;
}

/**
 * Splits an affine into qform parameters as nibabel's `set_qform` does: zooms are the column norms,
 * qfac makes the rotation proper, shears are stripped by taking the closest orthogonal matrix.
 * Throws a plain Error when a column is zero (callers wrap it).
 */
export function affineToQform(affine: Affine): QformParams {
  const rzs = [0, 1, 2].map((r) => [0, 1, 2].map((c) => affine[r]![c]!));
  const zooms = [0, 1, 2].map((c) => Math.hypot(rzs[0]![c]!, rzs[1]![c]!, rzs[2]![c]!)) as [
    number,
    number,
    number,
  ];
  if (zooms.some((z) => !(z > 0) || !Number.isFinite(z)))
    throw new Error('affine has a zero or non-finite column');
  const r = rzs.map((row) => row.map((v, c) => v / zooms[c]!));
  let qfac: 1 | -1 = 1;
  if (!(det3(r) > 0)) {
    qfac = -1;
    for (let i = 0; i < 3; i++) r[i]![2] = -r[i]![2]!;
  }
  const pr = closestOrthogonal(r);
  return {
    quatern: matrixToQuaternion(pr),
    offset: [affine[0]![3]!, affine[1]![3]!, affine[2]![3]!],
    zooms,
    qfac,
  };
}
