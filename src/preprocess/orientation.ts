/**
 * Voxel-axis orientation: which world axis (and direction) each voxel axis runs along, and
 * reorientation to the closest canonical RAS+ layout, exactly as nibabel's `io_orientation`,
 * `aff2axcodes` and `as_closest_canonical`.
 */

import { MrnError } from '../errors.js';
import { closestOrthogonal, multiplyAffines } from './affine.js';
import { createVolume, type Affine, type Volume, type VoxelArray } from './volume.js';

/** For each voxel axis: the world axis it maps to (0 = x/R, 1 = y/A, 2 = z/S) and its sign. */
export type Orientation = [number, 1 | -1][];

/** nibabel's default axis labels: (negative, positive) end per world axis. */
const AXIS_LABELS: [string, string][] = [
  ['L', 'R'],
  ['P', 'A'],
  ['I', 'S'],
];

/**
 * nibabel's `io_orientation`: normalise the columns, take the closest orthogonal matrix, then give
 * each voxel axis (in order) the world axis its column points along most, removing that world axis.
 * Throws `E_ORIENTATION` for a degenerate (singular) affine.
 */
export function ioOrientation(affine: Affine, name?: string): Orientation {
  const rzs = [0, 1, 2].map((r) => [0, 1, 2].map((c) => affine[r]![c]!));
  const zooms = [0, 1, 2].map((c) => Math.hypot(rzs[0]![c]!, rzs[1]![c]!, rzs[2]![c]!) || 1);
  const rs = rzs.map((row) => row.map((v, c) => v / zooms[c]!));
  let r: number[][];
  try {
    r = closestOrthogonal(rs);
  } catch (e) {
    throw new MrnError('E_ORIENTATION', 'affine is singular: voxel axes have no orientation', {
      file: name,
      cause: e,
      details: { affine },
    });
  }
  const out: Orientation = [];
  for (let inAx = 0; inAx < 3; inAx++) {
    const col = [r[0]![inAx]!, r[1]![inAx]!, r[2]![inAx]!];
    let outAx = 0;
    for (let k = 1; k < 3; k++) if (Math.abs(col[k]!) > Math.abs(col[outAx]!)) outAx = k;
    if (Math.abs(col[outAx]!) < 1e-8) {
      throw new MrnError('E_ORIENTATION', `voxel axis ${inAx} has no orientation in the affine`, {
        file: name,
        details: { affine },
      });
    }
    out.push([outAx, col[outAx]! < 0 ? -1 : 1]);
    r[outAx] = [0, 0, 0];
  }
  return out;
}

/**
 * nibabel's `aff2axcodes`: e.g. `'LAS'` for the challenge files, `'RAS'` after canonical reorientation.
 * `name` (a file) is named in the `E_ORIENTATION` error of a degenerate affine.
 */
export function aff2axcodes(affine: Affine, name?: string): string {
  return ioOrientation(affine, name)
    .map(([ax, sign]) => AXIS_LABELS[ax]![sign < 0 ? 0 : 1])
    .join('');
}

/** The orientation codes of a volume's affine (nibabel's `aff2axcodes`), e.g. `'LAS'`. */
export function orientation(volume: Volume): string {
  return aff2axcodes(volume.affine, volume.name);
}

/** nibabel's `inv_ornt_aff`: maps voxel indices of the reoriented array back to the original's. */
function invOrntAff(ornt: Orientation, shape: readonly number[]): Affine {
  const out: Affine = [
    [0, 0, 0, 0],
    [0, 0, 0, 0],
    [0, 0, 0, 0],
    [0, 0, 0, 1],
  ];
  // undo_flip · undo_reorder: row a of undo_reorder is e_{ornt[a].axis}
  for (let a = 0; a < 3; a++) {
    const [ax, flip] = ornt[a]!;
    const center = -(shape[a]! - 1) / 2;
    out[a]![ax] = flip;
    out[a]![3] = flip * center - center;
  }
  return out;
}

/**
 * Applies an orientation transform to the voxels (nibabel's `apply_orientation`): flip the input
 * axes with sign -1, then move input axis `a` to output axis `ornt[a][0]`. Returns fresh contiguous
 * data and the output shape.
 */
export function applyOrientation<T extends VoxelArray>(
  values: T,
  shape: readonly [number, number, number],
  ornt: Orientation,
): { values: T; shape: [number, number, number] } {
  const inStride = [1, shape[0], shape[0] * shape[1]];
  const outShape: [number, number, number] = [0, 0, 0];
  // For each output axis: the input stride it walks and where it starts.
  const step = [0, 0, 0];
  let base = 0;
  for (let a = 0; a < 3; a++) {
    const [ax, flip] = ornt[a]!;
    outShape[ax] = shape[a]!;
    if (flip < 0) {
      step[ax] = -inStride[a]!;
      base += (shape[a]! - 1) * inStride[a]!;
    } else {
      step[ax] = inStride[a]!;
    }
  }
  const ctor = values.constructor as new (n: number) => T;
  const out = new ctor(values.length);
  const [nx, ny, nz] = outShape;
  const [sx, sy, sz] = step as [number, number, number];
  let o = 0;
  for (let k = 0; k < nz; k++) {
    for (let j = 0; j < ny; j++) {
      let idx = base + k * sz + j * sy;
      if (sx === 1) {
        out.set(values.subarray(idx, idx + nx) as never, o);
        o += nx;
      } else if (sx === -1) {
        // a flipped row: native copy then native reverse, ~10x faster than an element loop
        out.set(values.subarray(idx - nx + 1, idx + 1) as never, o);
        out.subarray(o, o + nx).reverse();
        o += nx;
      } else {
        for (let i = 0; i < nx; i++, idx += sx) out[o++] = values[idx]!;
      }
    }
  }
  return { values: out, shape: outShape };
}

/**
 * Reorients a volume to the closest canonical RAS+ voxel layout by axis permutation and flips only
 * (no interpolation), updating the affine exactly as nibabel's `as_closest_canonical`. Always returns
 * a fresh contiguous volume (a copy when the volume is already RAS+).
 */
export function reorientToCanonical<T extends VoxelArray>(volume: Volume<T>): Volume<T> {
  const ornt = ioOrientation(volume.affine, volume.name);
  const values = volume.data.data as T;
  const { values: out, shape } = applyOrientation(values, volume.shape, ornt);
  const isIdentity = ornt.every(([ax, s], i) => ax === i && s === 1);
  const affine = isIdentity ? volume.affine : multiplyAffines(volume.affine, invOrntAff(ornt, volume.shape));
  return createVolume(out, shape, affine, volume.name);
}
