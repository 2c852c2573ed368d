/**
 * Softmax cross-entropy from logits and integer class ids, with PyTorch's `CrossEntropyLoss`
 * semantics for class weights and label smoothing, plus a per-sample mask (for padding slices).
 */

import * as tf from '@tensorflow/tfjs';
import { invalidArgument } from '../errors.js';

/** Options of {@link crossEntropyLoss}. */
export interface CrossEntropyOptions {
  /** ε in [0, 1): the target is `(1 − ε)·onehot + ε/K`. Default 0 (PyTorch's `label_smoothing`). */
  labelSmoothing?: number;
  /** Per-class weights (length K, ≥ 0), PyTorch's `weight`. Default: none (all 1). */
  classWeights?: number[];
  /**
   * Per-sample weights, shape of `labels` (e.g. 1 for voxels of real slices, 0 for padding). They
   * multiply each sample's term and its share of the normaliser. Default: all 1.
   */
  sampleWeights?: tf.Tensor;
  /**
   * Check that every label is an integer in [0, K) (one small synchronous read). Default `true`;
   * out-of-range ids would otherwise silently count as "no class".
   */
  checkLabels?: boolean;
}

/**
 * Throws unless every class id in `labels` is an integer in [0, classes). Reads two scalars.
 * @internal shared by the losses of this folder.
 */
export function checkClassIds(fn: string, labels: tf.Tensor, classes: number): void {
  if (labels.size === 0) return;
  const [min, max] = tf.tidy(() => [tf.min(labels), tf.max(labels)]);
  const lo = min.dataSync()[0];
  const hi = max.dataSync()[0];
  tf.dispose([min, max]);
  if (!(lo >= 0 && hi < classes)) {
    throw invalidArgument(fn, `class ids must lie in [0, ${classes}), found values in [${lo}, ${hi}]`, {
      min: lo,
      max: hi,
      classes,
    });
  }
}

/**
 * Mean softmax cross-entropy of `logits` `[..., K]` against integer `labels` `[...]`, exactly as
 * PyTorch's `F.cross_entropy(logits, labels, weight, label_smoothing=ε)` with `reduction='mean'`:
 *
 * ```
 * with w_i = classWeights[y_i]·m_i (m = sampleWeights) and log p = logSoftmax(logits):
 * nll    = −Σ_i w_i log p_{i,y_i} / Σ_i w_i
 * smooth = −Σ_i m_i Σ_k classWeights[k] log p_{i,k} / Σ_i w_i
 * loss   = (1 − ε)·nll + (ε / K)·smooth
 * ```
 *
 * When no sample counts (Σ w_i = 0) the loss is 0, not NaN.
 *
 * @param logits float32 `[..., K]`.
 * @param labels int32 tensor of the leading shape of `logits`, or a number[] when `logits` is `[N, K]`.
 * @returns a scalar.
 * @throws MrnError `E_INVALID_ARGUMENT` on shape/dtype mismatches, bad weights, ε outside [0, 1) or
 *   class ids outside [0, K).
 */
export function crossEntropyLoss(
  logits: tf.Tensor,
  labels: tf.Tensor | number[],
  options: CrossEntropyOptions = {},
): tf.Scalar {
  const fn = 'crossEntropyLoss';
  if (!(logits instanceof tf.Tensor) || logits.rank < 2) {
    throw invalidArgument(fn, `logits must be [..., K] with rank >= 2, got [${logits?.shape}]`);
  }
  const k = logits.shape[logits.rank - 1];
  const lead = logits.shape.slice(0, -1);
  const labelShape = Array.isArray(labels) ? [labels.length] : labels.shape;
  if (labelShape.length !== lead.length || labelShape.some((d, i) => d !== lead[i])) {
    throw invalidArgument(
      fn,
      `labels shape [${labelShape}] must equal the logits shape without its class axis [${lead}]`,
      {
        labels: labelShape,
        logits: logits.shape,
      },
    );
  }
  if (!Array.isArray(labels) && labels.dtype !== 'int32') {
    throw invalidArgument(fn, `labels must be int32 class ids, got ${labels.dtype}`);
  }
  const eps = options.labelSmoothing ?? 0;
  if (!Number.isFinite(eps) || eps < 0 || eps >= 1)
    throw invalidArgument(fn, `labelSmoothing must be in [0, 1), got ${eps}`);
  const cw = options.classWeights;
  if (cw !== undefined) {
    if (!Array.isArray(cw) || cw.length !== k || !cw.every((w) => Number.isFinite(w) && w >= 0)) {
      throw invalidArgument(fn, `classWeights must be ${k} finite numbers >= 0`, { classWeights: cw });
    }
  }
  const sw = options.sampleWeights;
  if (sw !== undefined && (sw.rank !== lead.length || sw.shape.some((d, i) => d !== lead[i]))) {
    throw invalidArgument(fn, `sampleWeights shape [${sw.shape}] must equal the labels shape [${lead}]`);
  }
  if (Array.isArray(labels) && !labels.every((l) => Number.isInteger(l))) {
    throw invalidArgument(fn, 'labels must be integers');
  }
  const n = lead.reduce((a, d) => a * d, 1);
  return tf.tidy(() => {
    const ids = Array.isArray(labels) ? tf.tensor1d(labels, 'int32') : labels.reshape([n]);
    if (options.checkLabels ?? true) checkClassIds(fn, ids, k);
    const logProb = tf.logSoftmax(logits.reshape([n, k]));
    // int32 then cast: wasm's OneHot ignores dtype 'float32' (see dice.ts).
    const target = tf.oneHot(ids as tf.Tensor1D, k).toFloat();
    const mask = sw === undefined ? tf.ones([n, 1]) : sw.toFloat().reshape([n, 1]);
    const classW = cw === undefined ? tf.ones([1, k]) : tf.tensor2d(cw, [1, k]);
    // Weight of each sample's true class, built with a product (no gather: wasm lacks its gradient).
    const sampleW = tf.mul(tf.sum(tf.mul(target, classW), 1, true), mask); // [n, 1]
    const denominator = tf.sum(sampleW);
    const safeDenominator = tf.where(tf.greater(denominator, 0), denominator, tf.onesLike(denominator));
    const nll = tf.neg(tf.sum(tf.mul(tf.sum(tf.mul(target, logProb), 1, true), sampleW)));
    let total = tf.mul(nll, 1 - eps);
    if (eps > 0) {
      const smooth = tf.neg(tf.sum(tf.mul(tf.sum(tf.mul(logProb, classW), 1, true), mask)));
      total = tf.add(total, tf.mul(smooth, eps / k));
    }
    return tf.div(total, safeDenominator) as tf.Scalar;
  });
}
