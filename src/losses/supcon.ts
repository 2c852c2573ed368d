/**
 * The supervised contrastive loss (SupCon) of Khosla et al., "Supervised Contrastive Learning",
 * NeurIPS 2020, computed exactly as the reference implementation (HobbitLong/SupContrast `losses.py`,
 * `SupConLoss`, including its fix for anchors without positives) but in a form that stays finite in
 * float32.
 */

import * as tf from '@tensorflow/tfjs';
import { invalidArgument } from '../errors.js';
import { L2_NORMALIZE_EPSILON, l2Normalize } from './l2-normalize.js';

/** Which feature vectors act as anchors (the reference's `contrast_mode`). */
export type SupConContrastMode = 'all' | 'one';

/** Options of {@link supConLoss}. */
export interface SupConOptions {
  /** τ, the softmax temperature. Default 0.07 (the reference's default). Must be > 0. */
  temperature?: number;
  /**
   * The reference's `base_temperature`: the loss is scaled by `temperature / baseTemperature`.
   * Default 0.07. Must be > 0.
   */
  baseTemperature?: number;
  /**
   * `'all'` (default): every view of every sample is an anchor (the paper's L_out over all views).
   * `'one'`: only view 0 of each sample is an anchor; all views are still contrasted against.
   */
  contrastMode?: SupConContrastMode;
  /**
   * L2-normalise each feature vector first (default `true`). The reference does not normalise (its
   * callers do); pass `false` for features that are already unit vectors to reproduce it bit for bit,
   * since normalising again changes the gradient (it projects out the radial component).
   */
  normalize?: boolean;
  /** ε of the normalisation, `x / sqrt(‖x‖² + ε²)`; default 1e-12 (see {@link l2Normalize}). */
  normalizeEpsilon?: number;
  /**
   * A custom `[B, B]` positive mask used instead of labels: `mask[i][j]` is the weight of sample j as
   * a positive of anchor i (may be asymmetric or fractional, as in the reference). Self-pairs are
   * removed automatically. Give either labels or a mask, not both; with neither, each sample's only
   * positives are its own other views (SimCLR).
   */
  mask?: tf.Tensor2D | number[][];
}

/** Labels accepted by the contrastive losses: a `[B]` tensor or a plain array. */
export type SupConLabels = tf.Tensor1D | number[];

const DEFAULT_TEMPERATURE = 0.07;

function checkPositive(name: string, value: number): void {
  if (!Number.isFinite(value) || value <= 0) {
    throw invalidArgument('supConLoss', `${name} must be a finite number > 0, got ${value}`, {
      [name]: value,
    });
  }
}

/** Validates the arguments of {@link supConLoss}; returns `[B, V, E]` with trailing axes flattened. */
function checkSupConArguments(
  features: tf.Tensor,
  labels: SupConLabels | null | undefined,
  options: SupConOptions,
): [number, number, number] {
  if (!(features instanceof tf.Tensor))
    throw invalidArgument('supConLoss', 'features must be a tf.Tensor [B, V, E]');
  if (features.rank < 3) {
    throw invalidArgument(
      'supConLoss',
      `features must be [B, V, E] (rank 3 or more), got shape [${features.shape}]`,
      {
        shape: features.shape,
      },
    );
  }
  if (features.dtype !== 'float32') {
    throw invalidArgument('supConLoss', `features must be float32, got ${features.dtype}`, {
      dtype: features.dtype,
    });
  }
  const [b, v] = features.shape;
  const e = features.shape.slice(2).reduce((p, q) => p * q, 1);
  if (b < 1 || v < 1 || e < 1) {
    throw invalidArgument('supConLoss', `features shape [${features.shape}] has an empty axis`, {
      shape: features.shape,
    });
  }
  if (labels !== null && labels !== undefined) {
    if (options.mask !== undefined) throw invalidArgument('supConLoss', 'give labels or mask, not both');
    const n = Array.isArray(labels) ? labels.length : labels instanceof tf.Tensor ? labels.size : NaN;
    if (!Array.isArray(labels) && !(labels instanceof tf.Tensor && labels.rank === 1)) {
      throw invalidArgument('supConLoss', 'labels must be a [B] tf.Tensor1D or a number[]');
    }
    if (n !== b) {
      throw invalidArgument('supConLoss', `${n} labels for a batch of ${b}`, { labels: n, batch: b });
    }
    if (Array.isArray(labels) && !labels.every((l) => typeof l === 'number' && Number.isFinite(l))) {
      throw invalidArgument('supConLoss', 'labels must be finite numbers');
    }
  }
  const mask = options.mask;
  if (mask !== undefined) {
    const shape = Array.isArray(mask)
      ? [mask.length, ...(mask.every((r) => r.length === b) ? [b] : [-1])]
      : mask.shape;
    if (shape.length !== 2 || shape[0] !== b || shape[1] !== b) {
      throw invalidArgument('supConLoss', `mask must be [${b}, ${b}], got [${shape}]`, { shape });
    }
  }
  checkPositive('temperature', options.temperature ?? DEFAULT_TEMPERATURE);
  checkPositive('baseTemperature', options.baseTemperature ?? DEFAULT_TEMPERATURE);
  checkPositive('normalizeEpsilon', options.normalizeEpsilon ?? L2_NORMALIZE_EPSILON);
  const mode = options.contrastMode ?? 'all';
  if (mode !== 'all' && mode !== 'one') {
    throw invalidArgument('supConLoss', `contrastMode must be 'all' or 'one', got '${String(mode)}'`);
  }
  return [b, v, e];
}

/** The `[B, B]` positive mask (before removing self-pairs) from labels, a custom mask, or neither. */
function sampleMask(
  b: number,
  labels: SupConLabels | null | undefined,
  mask: SupConOptions['mask'],
): tf.Tensor2D {
  if (mask !== undefined)
    return (Array.isArray(mask) ? tf.tensor2d(mask, [b, b]) : mask.toFloat()) as tf.Tensor2D;
  if (labels === null || labels === undefined) return tf.eye(b);
  if (Array.isArray(labels)) {
    // Built in plain numbers: exact equality for any label values, no float32 rounding of large ids.
    const values = new Float32Array(b * b);
    for (let i = 0; i < b; i++)
      for (let j = 0; j < b; j++) values[i * b + j] = labels[i] === labels[j] ? 1 : 0;
    return tf.tensor2d(values, [b, b]);
  }
  return tf.equal(labels.reshape([b, 1]), labels.reshape([1, b])).toFloat() as tf.Tensor2D;
}

/**
 * The largest off-self logit of each anchor row, detached from the gradient (the reference's
 * `logits_max.detach()`, but taken over the contrast entries that enter the denominator only).
 * Computed inside `customGrad` so none of its ops enter the gradient tape.
 */
const detachedMaskedRowMax = tf.customGrad(((logits: tf.Tensor2D, keep: tf.Tensor2D) => {
  // Self entries are replaced by the row minimum, so they never win the max while at least one
  // off-self entry exists (the caller guarantees that).
  const rowMin = tf.min(logits, 1, true);
  const masked = tf.add(tf.mul(logits, keep), tf.mul(rowMin, tf.sub(1, keep)));
  return {
    value: tf.max(masked, 1, true),
    gradFunc: (_dy: tf.Tensor) => [tf.zerosLike(logits), tf.zerosLike(keep)],
  };
}) as any) as (logits: tf.Tensor2D, keep: tf.Tensor2D) => tf.Tensor2D;

/**
 * Supervised contrastive loss (SupCon, the paper's L_out) of `features` `[B, V, E]` (V views of each
 * of B samples; trailing axes beyond the third are flattened, as in the reference).
 *
 * With anchors a (all B·V vectors in mode `'all'`, view 0 of each sample in `'one'`), contrast
 * vectors c (all B·V), z the (optionally L2-normalised) features, P(a) the positives of a (same label,
 * other than a itself) and A(a) all contrast vectors except a:
 *
 * ```
 * L = −(τ / τ_base) · mean_a [ (1/|P(a)|) Σ_{p∈P(a)} log( exp(z_a·z_p/τ) / Σ_{c∈A(a)} exp(z_a·z_c/τ) ) ]
 * ```
 *
 * An anchor without positives (a class with one member and one view) contributes 0 and still counts
 * in the mean over anchors — the reference's fix (`mask_pos_pairs` clamped to 1). The result equals
 * the reference's; for float32 it differs only in how the log-sum-exp is stabilised: the reference
 * subtracts each row's maximum including the self-similarity (which is then masked out), so at small
 * τ all remaining terms can underflow to 0 and give `log(0)`; here the maximum is taken over the
 * entries that enter the denominator, so the denominator is ≥ 1. Both shifts cancel exactly in the
 * loss and its gradient.
 *
 * A batch with a single vector (B·V = 1) has nothing to contrast: the loss is 0 (with a zero
 * gradient), consistent with "no positives contribute zero".
 *
 * @param features `[B, V, E]` float32 (projections; unnormalised unless `normalize: false`).
 * @param labels `[B]` class labels (tensor or array), or `null`/`undefined` with `options.mask` or for
 *   SimCLR (each sample's own views are its only positives).
 * @returns a scalar loss.
 * @throws MrnError `E_INVALID_ARGUMENT` for wrong ranks/shapes/dtypes, labels and mask both given,
 *   non-positive temperatures or an unknown contrast mode.
 */
export function supConLoss(
  features: tf.Tensor3D | tf.Tensor,
  labels: SupConLabels | null | undefined,
  options: SupConOptions = {},
): tf.Scalar {
  const [b, v, e] = checkSupConArguments(features, labels, options);
  const temperature = options.temperature ?? DEFAULT_TEMPERATURE;
  const baseTemperature = options.baseTemperature ?? DEFAULT_TEMPERATURE;
  const mode = options.contrastMode ?? 'all';
  const normalize = options.normalize ?? true;
  const epsilon = options.normalizeEpsilon ?? L2_NORMALIZE_EPSILON;
  return tf.tidy(() => {
    const flat = features.reshape([b, v, e]);
    const z = normalize ? l2Normalize(flat, epsilon) : flat;
    const contrastCount = b * v;
    if (contrastCount < 2) return tf.mul(tf.sum(z), 0) as tf.Scalar;
    // View-major rows, like torch.cat(torch.unbind(features, 1), 0): row k = view ⌊k/B⌋ of sample k mod B.
    const contrast = tf.transpose(z, [1, 0, 2]).reshape([contrastCount, e]);
    const anchorViews = mode === 'all' ? v : 1;
    const anchorCount = anchorViews * b;
    // In mode 'one' the anchors are view 0, i.e. the first B contrast rows.
    const anchors = mode === 'all' ? contrast : tf.slice(contrast, [0, 0], [b, e]);
    const similarity = tf.div(tf.matMul(anchors, contrast, false, true), temperature); // [A, N]
    // 1 except at (a, a): anchor a is contrast row a in both modes.
    const notSelf = tf.sub(1, tf.eye(anchorCount, contrastCount)) as tf.Tensor2D;
    const positives = tf.mul(tf.tile(sampleMask(b, labels, options.mask), [anchorViews, v]), notSelf);
    const logits = tf.sub(similarity, detachedMaskedRowMax(similarity as tf.Tensor2D, notSelf));
    // Off-self logits are ≤ 0, so exp cannot overflow; the self entry is zeroed before exp (it may be
    // large and positive) and masked after it.
    const expLogits = tf.mul(tf.exp(tf.mul(logits, notSelf)), notSelf);
    const logProb = tf.sub(logits, tf.log(tf.sum(expLogits, 1, true)));
    const positiveCount = tf.sum(positives, 1);
    const safeCount = tf.where(tf.less(positiveCount, 1e-6), tf.onesLike(positiveCount), positiveCount);
    const meanLogProbPositive = tf.div(tf.sum(tf.mul(positives, logProb), 1), safeCount);
    return tf.mul(tf.mean(meanLogProbPositive), -(temperature / baseTemperature)) as tf.Scalar;
  });
}
