/**
 * Soft segmentation targets at the aux head's native (block) resolution: one-hot slice masks
 * `[.., S, S]` area-averaged to `T x T` per-block class fractions `[.., T, T, K]`, with PyTorch's
 * `F.adaptive_avg_pool2d` windows (the same as `F.interpolate(mode='area')`). Fractions rather than
 * a majority class because the small nuclei (STN, a few pixels per slice) would vanish under a
 * majority vote at 3.5-pixel blocks; a pure block's fractions are its one-hot class.
 */

import * as tf from '@tensorflow/tfjs';
import { MrnError } from '../errors.js';

/** One output cell's input window `[start, end)` along an axis. */
export interface PoolWindow {
  start: number;
  end: number;
}

/**
 * The windows of PyTorch's `adaptive_avg_pool2d` along one axis: output cell i covers input indices
 * `floor(i·in/out) .. ceil((i+1)·in/out) − 1`. The windows overlap when `in/out` is not an integer
 * (224 → 64: widths 3 and 4, each 3.5 on average).
 */
export function adaptivePoolWindows(inSize: number, outSize: number): PoolWindow[] {
  for (const [name, v] of [
    ['inSize', inSize],
    ['outSize', outSize],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) {
      throw new MrnError(
        'E_INVALID_ARGUMENT',
        `adaptivePoolWindows: ${name} must be a positive integer, got ${v}`,
      );
    }
  }
  return Array.from({ length: outSize }, (_, i) => ({
    start: Math.floor((i * inSize) / outSize),
    end: Math.ceil(((i + 1) * inSize) / outSize),
  }));
}

/** Geometry of {@link blockClassFractions}. */
export interface BlockFractionShape {
  /** Slices (or any leading count) M: the masks hold M maps of `size x size`. */
  maps: number;
  /** Side S of the input maps. */
  size: number;
  /** Side T of the output maps. */
  blocks: number;
  /** Classes K, background included. Ids must lie in [0, K). */
  classes: number;
}

/**
 * Per-block class fractions of class-id maps: `masks` `[M, S, S]` (any integer array) to float32
 * `[M, T, T, K]`, cell (i, j) holding the share of each class among the pixels of its adaptive-pool
 * window (see {@link adaptivePoolWindows}). Equals `F.adaptive_avg_pool2d(one_hot(masks), T)`
 * channels-last, in float32.
 *
 * @throws MrnError `E_INVALID_ARGUMENT` when the array length does not match the shape or a class id
 *   lies outside [0, K).
 */
export function blockClassFractions(masks: ArrayLike<number>, shape: BlockFractionShape): Float32Array {
  const { maps, size, blocks, classes } = shape;
  if (!Number.isInteger(maps) || maps < 0 || !Number.isInteger(classes) || classes < 1) {
    throw new MrnError('E_INVALID_ARGUMENT', `blockClassFractions: bad shape ${JSON.stringify(shape)}`);
  }
  if (masks.length !== maps * size * size) {
    throw new MrnError(
      'E_INVALID_ARGUMENT',
      `blockClassFractions: ${masks.length} mask values for ${maps} maps of ${size} x ${size}`,
      { details: { length: masks.length, ...shape } },
    );
  }
  const windows = adaptivePoolWindows(size, blocks);
  const out = new Float32Array(maps * blocks * blocks * classes);
  const counts = new Float64Array(classes);
  for (let m = 0; m < maps; m++) {
    const base = m * size * size;
    for (let i = 0; i < blocks; i++) {
      const rows = windows[i]!;
      for (let j = 0; j < blocks; j++) {
        const cols = windows[j]!;
        counts.fill(0);
        for (let y = rows.start; y < rows.end; y++) {
          const row = base + y * size;
          for (let x = cols.start; x < cols.end; x++) {
            const k = masks[row + x]!;
            if (!(k >= 0 && k < classes && Number.isInteger(k))) {
              throw new MrnError(
                'E_INVALID_ARGUMENT',
                `blockClassFractions: class ids must be integers in [0, ${classes}), found ${k}`,
                { details: { value: k, classes } },
              );
            }
            counts[k]! += 1;
          }
        }
        const area = (rows.end - rows.start) * (cols.end - cols.start);
        const cell = ((m * blocks + i) * blocks + j) * classes;
        for (let k = 0; k < classes; k++) out[cell + k] = counts[k]! / area;
      }
    }
  }
  return out;
}

/**
 * {@link blockClassFractions} on a tensor: int32 class ids `[B, D, S, S]` to float32 fractions
 * `[B, D, T, T, K]`. Reads the masks synchronously (they are data, not differentiated). The caller
 * owns the result.
 */
export function blockTargets(masks: tf.Tensor4D, blocks: number, classes: number): tf.Tensor5D {
  if (!(masks instanceof tf.Tensor) || masks.rank !== 4 || masks.shape[2] !== masks.shape[3]) {
    throw new MrnError(
      'E_INVALID_ARGUMENT',
      `blockTargets: masks must be [B, D, S, S] class ids, got [${(masks as tf.Tensor | undefined)?.shape}]`,
    );
  }
  if (masks.dtype !== 'int32') {
    throw new MrnError(
      'E_INVALID_ARGUMENT',
      `blockTargets: masks must be int32 class ids, got ${masks.dtype}`,
    );
  }
  const [b, d, s] = masks.shape;
  const fractions = blockClassFractions(masks.dataSync(), { maps: b * d, size: s, blocks, classes });
  return tf.tensor5d(fractions, [b, d, blocks, blocks, classes]);
}

/**
 * The aux targets that fit `logits` `[B, D, H, W, K]`: masks already at the logits' resolution are
 * returned as they are (class ids `[B, D, H, W]` or fractions `[B, D, H, W, K]`); class ids at another
 * resolution (slice masks `[B, D, S, S]` against block logits `[B, D, T, T, K]`) are reduced to
 * per-block class fractions with {@link blockTargets} (a new tensor, tracked by the enclosing tidy).
 * Shape mismatches are left to the loss, which names them.
 */
export function segTargetsFor(
  logits: tf.Tensor5D,
  masks: tf.Tensor4D | tf.Tensor5D,
): tf.Tensor4D | tf.Tensor5D {
  const [, , h, w, k] = logits.shape;
  if (masks.rank === 5 && (masks.shape[2] !== h || masks.shape[3] !== w)) {
    throw new MrnError(
      'E_INVALID_ARGUMENT',
      `masks were reduced to ${masks.shape[2]} x ${masks.shape[3]} blocks but the aux logits are ${h} x ${w}; ` +
        "cache the features with the model's segUpsample (extractFeatures({ segUpsample })) or pass slice masks",
      { details: { masks: masks.shape, logits: logits.shape } },
    );
  }
  if (masks.rank !== 4) return masks;
  const [, , mh, mw] = masks.shape;
  if ((mh === h && mw === w) || h !== w || mh !== mw || masks.dtype !== 'int32') return masks;
  return blockTargets(masks as tf.Tensor4D, h, k);
}
