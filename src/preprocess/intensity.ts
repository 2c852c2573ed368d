/**
 * Intensity normalisation: NaN/Inf policy, percentiles (numpy's default 'linear' method), percentile
 * clipping and rescaling, fixed physical windows, and z-scores (optionally inside a mask).
 *
 * Every function returns a fresh float32 volume (float64 stays float64) and never mutates its input.
 * Non-finite voxels are rejected by default (`E_NON_FINITE`, naming the volume and the count);
 * `nonFinite: 'zero'` replaces them with 0 first and reports how many it replaced.
 */

import { MrnError } from '../errors.js';
import { createVolume, type Volume, type VoxelArray } from './volume.js';

/** What to do with NaN/±Inf voxels: `'reject'` (throw `E_NON_FINITE`, default) or `'zero'` (replace by 0). */
export type NonFinitePolicy = 'reject' | 'zero';

/** Options shared by the intensity functions. */
export interface IntensityOptions {
  /** NaN/Inf policy (default `'reject'`). */
  nonFinite?: NonFinitePolicy;
  /**
   * Restricts the statistics (percentiles, mean, std) to voxels where the mask is non-zero; the
   * transform is still applied to every voxel. Must have the volume's shape.
   */
  mask?: Volume;
}

/** A result volume plus how many non-finite voxels were replaced by 0 (always 0 under `'reject'`). */
export interface IntensityResult {
  /** The transformed volume (float32, or float64 for float64 input). */
  volume: Volume<Float32Array | Float64Array>;
  /** Non-finite voxels replaced by 0 before the transform. */
  replacedNonFinite: number;
}

function floatCopy(volume: Volume): Float32Array | Float64Array {
  const src = volume.data.data as VoxelArray;
  return src instanceof Float64Array ? new Float64Array(src) : Float32Array.from(src);
}

/**
 * Applies the NaN/Inf policy: returns a float copy of the voxels with non-finite values replaced by 0
 * (`'zero'`), or throws `E_NON_FINITE` (`'reject'`) when there are any.
 */
export function handleNonFinite(
  volume: Volume,
  policy: NonFinitePolicy = 'reject',
): { values: Float32Array | Float64Array; replaced: number } {
  if (policy !== 'reject' && policy !== 'zero') {
    throw new MrnError(
      'E_INVALID_ARGUMENT',
      `nonFinite policy must be 'reject' or 'zero', got '${String(policy)}'`,
      {
        file: volume.name,
      },
    );
  }
  const values = floatCopy(volume);
  let replaced = 0;
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i]!)) {
      if (policy === 'reject') {
        let count = 0;
        for (let k = i; k < values.length; k++) if (!Number.isFinite(values[k]!)) count++;
        throw new MrnError(
          'E_NON_FINITE',
          `${count} of ${values.length} voxels are NaN or Inf (first at index ${i}); pass nonFinite: 'zero' to replace them with 0`,
          { file: volume.name, details: { count, firstIndex: i } },
        );
      }
      values[i] = 0;
      replaced++;
    }
  }
  return { values, replaced };
}

function maskOf(volume: Volume, mask: Volume | undefined): VoxelArray | undefined {
  if (!mask) return undefined;
  if (mask.shape.some((d, i) => d !== volume.shape[i])) {
    throw new MrnError(
      'E_GRID_MISMATCH',
      `mask shape [${mask.shape.join(', ')}] differs from volume shape [${volume.shape.join(', ')}]`,
      { file: volume.name, details: { mask: mask.name } },
    );
  }
  return mask.data.data as VoxelArray;
}

function selected(values: ArrayLike<number>, mask: VoxelArray | undefined, name?: string): Float64Array {
  if (!mask) return Float64Array.from(values);
  let n = 0;
  for (let i = 0; i < mask.length; i++) if (mask[i] !== 0) n++;
  if (n === 0)
    throw new MrnError('E_INVALID_ARGUMENT', 'the intensity mask selects no voxels', { file: name });
  const out = new Float64Array(n);
  for (let i = 0, k = 0; i < mask.length; i++) if (mask[i] !== 0) out[k++] = values[i]!;
  return out;
}

/** numpy's default (`method='linear'`) percentile of already-sorted values; `p` in [0, 100]. */
function sortedPercentile(sorted: Float64Array, p: number): number {
  const pos = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  const t = pos - lo;
  const a = sorted[lo]!;
  const b = sorted[hi]!;
  // numpy's _lerp: a + (b - a) * t, switched to b - (b - a) * (1 - t) for t >= 0.5
  return t >= 0.5 ? b - (b - a) * (1 - t) : a + (b - a) * t;
}

function checkPercent(p: number, name?: string): void {
  if (!(p >= 0 && p <= 100)) {
    throw new MrnError('E_INVALID_ARGUMENT', `percentile must be in [0, 100], got ${p}`, { file: name });
  }
}

/**
 * Percentiles of a volume's voxels (optionally inside `mask`), as `numpy.percentile` with its default
 * linear method. Non-finite voxels follow `nonFinite` (rejected by default).
 */
export function percentiles(volume: Volume, ps: readonly number[], options: IntensityOptions = {}): number[] {
  ps.forEach((p) => checkPercent(p, volume.name));
  const { values } = handleNonFinite(volume, options.nonFinite);
  const sorted = selected(values, maskOf(volume, options.mask), volume.name).sort();
  return ps.map((p) => sortedPercentile(sorted, p));
}

function withValues(
  volume: Volume,
  values: Float32Array | Float64Array,
): Volume<Float32Array | Float64Array> {
  return createVolume(values, volume.shape, volume.affine, volume.name);
}

/**
 * Clips voxels to `[lower, upper]` given as percentiles (default 0.5 and 99.5) of the volume (or of
 * the voxels inside `mask`). Values are kept in their units.
 */
export function clipPercentiles(
  volume: Volume,
  lower = 0.5,
  upper = 99.5,
  options: IntensityOptions = {},
): IntensityResult & { range: [number, number] } {
  checkPercent(lower, volume.name);
  checkPercent(upper, volume.name);
  if (!(lower < upper)) {
    throw new MrnError('E_INVALID_ARGUMENT', `lower percentile ${lower} must be below upper ${upper}`, {
      file: volume.name,
    });
  }
  const { values, replaced } = handleNonFinite(volume, options.nonFinite);
  const sorted = selected(values, maskOf(volume, options.mask), volume.name).sort();
  const lo = sortedPercentile(sorted, lower);
  const hi = sortedPercentile(sorted, upper);
  for (let i = 0; i < values.length; i++) values[i] = Math.min(hi, Math.max(lo, values[i]!));
  return { volume: withValues(volume, values), replacedNonFinite: replaced, range: [lo, hi] };
}

/**
 * Maps the fixed window `[low, high]` (in the volume's units, e.g. QSM ppb) linearly onto
 * `[0, 1]` (or `to`), clipping outside it. This is how QSM is scaled: a physical window, never its
 * own percentiles (which would divide the disease signal out).
 */
export function rescaleWindow(
  volume: Volume,
  window: readonly [number, number],
  options: IntensityOptions & { to?: readonly [number, number] } = {},
): IntensityResult {
  const [low, high] = window;
  if (!(Number.isFinite(low) && Number.isFinite(high) && low < high)) {
    throw new MrnError(
      'E_INVALID_ARGUMENT',
      `window must be two finite numbers low < high, got [${window}]`,
      {
        file: volume.name,
      },
    );
  }
  const [a, b] = options.to ?? [0, 1];
  const { values, replaced } = handleNonFinite(volume, options.nonFinite);
  const scale = (b - a) / (high - low);
  for (let i = 0; i < values.length; i++) {
    const v = Math.min(high, Math.max(low, values[i]!));
    values[i] = a + (v - low) * scale;
  }
  return { volume: withValues(volume, values), replacedNonFinite: replaced };
}

/**
 * Clips to the `[lower, upper]` percentiles (default 0.5, 99.5; inside `mask` when given) and maps
 * that range linearly onto `[0, 1]` (or `to`). For images without a physical scale (e.g. NM-MRI
 * before contrast normalisation); a constant volume maps to `to[0]`.
 */
export function rescalePercentiles(
  volume: Volume,
  lower = 0.5,
  upper = 99.5,
  options: IntensityOptions & { to?: readonly [number, number] } = {},
): IntensityResult & { range: [number, number] } {
  const clipped = clipPercentiles(volume, lower, upper, options);
  const [lo, hi] = clipped.range;
  const [a, b] = options.to ?? [0, 1];
  const values = clipped.volume.data.data;
  const scale = hi > lo ? (b - a) / (hi - lo) : 0;
  for (let i = 0; i < values.length; i++) values[i] = a + (values[i]! - lo) * scale;
  return { ...clipped, volume: withValues(volume, values) };
}

/**
 * Z-scores: `(x - mean) / std` with mean and population std (numpy's `std`, ddof 0) over all voxels
 * or over the voxels inside `mask`; applied to every voxel. Throws `E_INVALID_ARGUMENT` when the
 * selected voxels are constant (std 0).
 */
export function zScore(
  volume: Volume,
  options: IntensityOptions = {},
): IntensityResult & { mean: number; std: number } {
  const { values, replaced } = handleNonFinite(volume, options.nonFinite);
  const sel = selected(values, maskOf(volume, options.mask), volume.name);
  let sum = 0;
  for (let i = 0; i < sel.length; i++) sum += sel[i]!;
  const mean = sum / sel.length;
  let ss = 0;
  for (let i = 0; i < sel.length; i++) ss += (sel[i]! - mean) ** 2;
  const std = Math.sqrt(ss / sel.length);
  if (!(std > 0)) {
    throw new MrnError('E_INVALID_ARGUMENT', 'zScore: the selected voxels are constant (std 0)', {
      file: volume.name,
    });
  }
  for (let i = 0; i < values.length; i++) values[i] = (values[i]! - mean) / std;
  return { volume: withValues(volume, values), replacedNonFinite: replaced, mean, std };
}
