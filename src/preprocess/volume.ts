/**
 * The in-memory 3D image type every data function takes and returns: voxels in NIfTI order (i fastest)
 * plus the geometry that places them in the world (RAS+ mm, as nibabel reports it).
 */

import ndarray, { type NdArray } from 'ndarray';
import { MrnError } from '../errors.js';
import { applyAffine, invertAffine } from './affine.js';

/** Typed arrays a {@link Volume} may hold: the stored type when scaling is the identity, else float32. */
export type VoxelArray =
  | Float32Array
  | Float64Array
  | Uint8Array
  | Int8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array;

/** A 4x4 voxel-to-world matrix as rows (`affine[r][c]`), RAS+ millimetres. */
export type Affine = number[][];

/**
 * A 3D volume. `data` is an `ndarray` of shape `[X, Y, Z]` over one contiguous typed array with
 * strides `[1, X, X*Y]` (i fastest, exactly the file's order), so `data.data` can be handed to a
 * tensor or a worker without a copy. Geometry functions always return fresh contiguous volumes.
 */
export interface Volume<T extends VoxelArray = VoxelArray> {
  /** Voxels, shape `[X, Y, Z]`, strides `[1, X, X*Y]`. */
  data: NdArray<T>;
  /** `[X, Y, Z]`. */
  shape: [number, number, number];
  /** Voxel size in mm along i, j, k: the norms of the affine's first three columns. */
  spacing: [number, number, number];
  /** 4x4 voxel-to-world affine (RAS+ mm), rows. */
  affine: Affine;
  /** How many voxels are NaN or +-Inf (counted when the volume is created). */
  nonFiniteCount: number;
  /** Where the volume came from (a file path or a name), for error messages. */
  name?: string;
}

/** Column norms of the affine's 3x3 part: the voxel spacing in mm. */
export function spacingFromAffine(affine: Affine): [number, number, number] {
  const col = (c: number) => Math.hypot(affine[0]![c]!, affine[1]![c]!, affine[2]![c]!);
  return [col(0), col(1), col(2)];
}

/** Counts NaN and +-Inf values (integer arrays have none). */
export function countNonFinite(values: VoxelArray): number {
  if (!(values instanceof Float32Array || values instanceof Float64Array)) return 0;
  let n = 0;
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i]!)) n++;
  return n;
}

/**
 * Builds a {@link Volume} over `values` (NIfTI order, i fastest) with the given shape and affine.
 * Throws `E_INVALID_ARGUMENT` when the sizes disagree or the affine is not 4x4.
 */
export function createVolume<T extends VoxelArray>(
  values: T,
  shape: readonly [number, number, number] | readonly number[],
  affine: Affine,
  name?: string,
): Volume<T> {
  if (shape.length !== 3 || shape.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new MrnError(
      'E_INVALID_ARGUMENT',
      `createVolume: shape must be 3 positive integers, got [${shape}]`,
      {
        file: name,
      },
    );
  }
  const [x, y, z] = shape as [number, number, number];
  if (values.length !== x * y * z) {
    throw new MrnError(
      'E_INVALID_ARGUMENT',
      `createVolume: ${values.length} voxels do not fill shape [${x}, ${y}, ${z}] (${x * y * z})`,
      { file: name },
    );
  }
  if (affine.length !== 4 || affine.some((r) => r.length !== 4 || r.some((v) => !Number.isFinite(v)))) {
    throw new MrnError('E_INVALID_ARGUMENT', 'createVolume: affine must be a finite 4x4 matrix (rows)', {
      file: name,
    });
  }
  return {
    data: ndarray(values, [x, y, z], [1, x, x * y]),
    shape: [x, y, z],
    spacing: spacingFromAffine(affine),
    affine: affine.map((r) => [...r]),
    nonFiniteCount: countNonFinite(values),
    name,
  };
}

/**
 * World (RAS+ mm) coordinates of a voxel index `[i, j, k]` (fractional indices allowed):
 * `affine · [i, j, k, 1]`.
 */
export function voxelToWorld(
  volume: Pick<Volume, 'affine'>,
  ijk: readonly number[],
): [number, number, number] {
  return applyAffine(volume.affine, ijk);
}

/**
 * Fractional voxel index `[i, j, k]` of a world point (RAS+ mm): `affine⁻¹ · [x, y, z, 1]`. Round it
 * yourself to pick a voxel. Throws `E_INVALID_ARGUMENT` when the affine is singular.
 */
export function worldToVoxel(
  volume: Pick<Volume, 'affine' | 'name'>,
  xyz: readonly number[],
): [number, number, number] {
  let inverse: Affine;
  try {
    inverse = invertAffine(volume.affine);
  } catch (e) {
    throw new MrnError('E_INVALID_ARGUMENT', 'worldToVoxel: the affine is singular', {
      file: volume.name,
      cause: e,
    });
  }
  return applyAffine(inverse, xyz);
}
