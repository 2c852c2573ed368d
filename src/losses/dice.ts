/**
 * Soft Dice and Dice + cross-entropy losses for the auxiliary nucleus masks, following MONAI's
 * `DiceLoss(to_onehot_y=True, softmax=True)` and `DiceCELoss`, extended with a per-slice validity
 * mask so padding slices of an ROI never count.
 */

import * as tf from '@tensorflow/tfjs';
import { invalidArgument } from '../errors.js';
import { checkClassIds } from './cross-entropy.js';

/** Options of {@link diceLoss}. Defaults are MONAI's. */
export interface DiceLossOptions {
  /** Include class 0 (background) in the Dice mean. Default `true` (MONAI). Ignored when C = 1, as in MONAI. */
  includeBackground?: boolean;
  /** Apply softmax over the class axis first. Default `true`; `false` means the input already holds probabilities. */
  softmax?: boolean;
  /** Added to the numerator, 2·|P∩G| + smoothNr. Default 1e-5. */
  smoothNr?: number;
  /** Added to the denominator, |P| + |G| + smoothDr. Default 1e-5. */
  smoothDr?: number;
  /** `[B, D]` slice validity (1 real, 0 padding); voxels of padding slices are left out. Default: all valid. */
  valid?: tf.Tensor2D;
  /** MONAI's `batch`: sum over the batch before the Dice (one Dice per class). Default `false`. */
  batch?: boolean;
  /** Check that every target id is in [0, C) (one small synchronous read). Default `true`. */
  checkTargets?: boolean;
}

/** Options of {@link diceCELoss}: those of {@link diceLoss} plus the cross-entropy ones. */
export interface DiceCELossOptions extends DiceLossOptions {
  /** Weight of the Dice term (MONAI's `lambda_dice`). Default 1. */
  diceWeight?: number;
  /** Weight of the cross-entropy term (MONAI's `lambda_ce`). Default 1. */
  ceWeight?: number;
  /** Per-class weights of the cross-entropy (MONAI's `weight`, length C). Default: none. */
  ceClassWeights?: number[];
  /** Label smoothing of the cross-entropy (MONAI's `label_smoothing`). Default 0. */
  ceLabelSmoothing?: number;
}

function checkNonNegative(fn: string, name: string, value: number): void {
  if (!Number.isFinite(value) || value < 0)
    throw invalidArgument(fn, `${name} must be a finite number >= 0, got ${value}`);
}

/**
 * Segmentation targets: int32 class ids `[B, D, H, W]`, or soft per-voxel class shares
 * `[B, D, H, W, C]` float32 (e.g. per-block class fractions, see `blockTargets`), each voxel's
 * shares summing to 1. One-hot soft targets give exactly the class-id losses.
 */
export type SegmentationTargets = tf.Tensor4D | tf.Tensor5D;

/** True when `targets` are soft class shares `[B, D, H, W, C]` rather than class ids. */
export function isSoftTargets(targets: SegmentationTargets): targets is tf.Tensor5D {
  return targets.rank === 5;
}

/** Validates logits/targets/valid; returns [B, D, H·W, C]. */
function checkSegArguments(
  fn: string,
  logits: tf.Tensor,
  targets: tf.Tensor,
  valid: tf.Tensor | undefined,
): [number, number, number, number] {
  if (!(logits instanceof tf.Tensor) || logits.rank !== 5) {
    throw invalidArgument(fn, `logits must be [B, D, H, W, C], got [${logits?.shape}]`);
  }
  if (logits.dtype !== 'float32') throw invalidArgument(fn, `logits must be float32, got ${logits.dtype}`);
  const [b, d, h, w, c] = logits.shape;
  const soft = targets instanceof tf.Tensor && targets.rank === 5;
  if (
    !(targets instanceof tf.Tensor) ||
    (targets.rank !== 4 && !soft) ||
    targets.shape.some((s, i) => s !== logits.shape[i])
  ) {
    throw invalidArgument(
      fn,
      `targets shape [${targets?.shape}] does not match logits [${logits.shape}]: expected class ids [${b}, ${d}, ${h}, ${w}] or soft targets [${b}, ${d}, ${h}, ${w}, ${c}]`,
      {
        targets: targets?.shape,
        logits: logits.shape,
      },
    );
  }
  if (soft && targets.dtype !== 'float32') {
    throw invalidArgument(fn, `soft targets must be float32 class shares, got ${targets.dtype}`);
  }
  if (!soft && targets.dtype !== 'int32') {
    throw invalidArgument(fn, `targets must be int32 class ids, got ${targets.dtype}`);
  }
  if (
    valid !== undefined &&
    (!(valid instanceof tf.Tensor) || valid.rank !== 2 || valid.shape[0] !== b || valid.shape[1] !== d)
  ) {
    throw invalidArgument(fn, `valid must be [${b}, ${d}], got [${valid?.shape}]`);
  }
  if (c < 1) throw invalidArgument(fn, 'logits have no classes');
  return [b, d, h * w, c];
}

/** The Dice loss and, when asked, the cross-entropy, from one pass over the voxels. */
interface SegmentationTerms {
  dice: tf.Scalar;
  ce?: tf.Scalar;
}

/**
 * Dice (and cross-entropy) without argument checks (callers validate). Memory matters here (segmentation
 * logits are the largest tensors of a training step), so the voxel-sized tensors are computed once and
 * shared: log-probabilities, probabilities, the one-hot truth and two products. Everything else is
 * reduced per slice first (`[B, D, C]`), where the validity mask is applied.
 */
function segmentationTerms(
  logits: tf.Tensor5D,
  targets: SegmentationTargets,
  dims: [number, number, number, number],
  options: DiceCELossOptions,
  withCrossEntropy: boolean,
): SegmentationTerms {
  const [b, d, hw, c] = dims;
  const smoothNr = options.smoothNr ?? 1e-5;
  const smoothDr = options.smoothDr ?? 1e-5;
  const softmax = options.softmax ?? true;
  return tf.tidy(() => {
    // [B, D, H·W, C]: 4-D keeps every op off the slow 5-D paths.
    const flat = logits.reshape([b, d, hw, c]);
    const logProb = softmax || withCrossEntropy ? tf.logSoftmax(flat) : undefined;
    const probs = softmax ? tf.exp(logProb as tf.Tensor) : flat;
    // Soft targets are the truth as given; class ids become one-hot (int32 one-hot then a cast:
    // tfjs-backend-wasm 4.22's OneHot ignores dtype 'float32' and writes integer bit patterns into the
    // float buffer, so 1 reads as 1.4e-45).
    const truth = isSoftTargets(targets)
      ? targets.reshape([b, d, hw, c])
      : tf.oneHot(targets.reshape([b, d, hw]), c).toFloat();
    const valid =
      options.valid === undefined ? tf.ones([b, d, 1]) : options.valid.toFloat().reshape([b, d, 1]);
    // Per-slice sums [B, D, C], then weighted by slice validity and summed over slices: [B, C].
    const overSlices = (perVoxel: tf.Tensor) => tf.sum(tf.mul(tf.sum(perVoxel, 2), valid), 1);
    const truthPerSlice = tf.sum(truth, 2);
    let intersection = overSlices(tf.mul(probs, truth));
    let truthSize = tf.sum(tf.mul(truthPerSlice, valid), 1);
    let predSize = overSlices(probs);
    if (options.batch ?? false) {
      intersection = tf.sum(intersection, 0, true);
      truthSize = tf.sum(truthSize, 0, true);
      predSize = tf.sum(predSize, 0, true);
    }
    let perClass = tf.sub(
      1,
      tf.div(tf.add(tf.mul(intersection, 2), smoothNr), tf.add(tf.add(truthSize, predSize), smoothDr)),
    );
    if (!(options.includeBackground ?? true) && c > 1) {
      perClass = tf.slice(perClass, [0, 1], [perClass.shape[0], c - 1]);
    }
    const dice = tf.mean(perClass) as tf.Scalar;
    if (!withCrossEntropy) return { dice };
    // PyTorch's weighted, label-smoothed mean cross-entropy (see crossEntropyLoss), over valid voxels:
    // every sum over voxels is a per-slice, per-class sum weighted by validity and class weight.
    const eps = options.ceLabelSmoothing ?? 0;
    const classWeights = options.ceClassWeights;
    const weight = classWeights === undefined ? valid : tf.mul(valid, tf.tensor3d(classWeights, [1, 1, c]));
    const denominator = tf.sum(tf.mul(truthPerSlice, weight));
    const safeDenominator = tf.where(tf.greater(denominator, 0), denominator, tf.onesLike(denominator));
    let numerator = tf.mul(
      tf.sum(tf.mul(tf.sum(tf.mul(truth, logProb as tf.Tensor), 2), weight)),
      -(1 - eps),
    );
    if (eps > 0) {
      const smooth = tf.sum(tf.mul(tf.sum(logProb as tf.Tensor, 2), weight));
      numerator = tf.sub(numerator, tf.mul(smooth, eps / c));
    }
    return { dice, ce: tf.div(numerator, safeDenominator) as tf.Scalar };
  });
}

function checkDiceOptions(fn: string, options: DiceLossOptions): void {
  checkNonNegative(fn, 'smoothNr', options.smoothNr ?? 1e-5);
  checkNonNegative(fn, 'smoothDr', options.smoothDr ?? 1e-5);
}

/**
 * Soft Dice loss of segmentation `logits` `[B, D, H, W, C]` against class-id `targets` `[B, D, H, W]`
 * (int32), as MONAI's `DiceLoss(include_background, to_onehot_y=True, softmax=True, smooth_nr,
 * smooth_dr, batch)` computes it, restricted to the voxels of valid slices; or against soft targets
 * `[B, D, H, W, C]` (float32 class shares, e.g. per-block class fractions), for which g is the
 * shares themselves (MONAI's formula with a non-binary g; identical on one-hot shares):
 *
 * ```
 * p = softmax(logits) · valid,  g = (soft ? targets : onehot(targets)) · valid
 * f[b, c] = 1 − (2·Σ p·g + smoothNr) / (Σ p + Σ g + smoothDr)     (sums over D, H, W)
 * loss = mean over b and the included classes c
 * ```
 *
 * **Empty ground truth** (class c absent from sample b, or a sample with no valid slice): f[b, c] =
 * 1 − smoothNr / (Σ p + smoothDr), i.e. ≈ 0 when the prediction is empty too and → 1 as soon as the
 * prediction has more than ~smoothDr of that class; never NaN (the denominator is ≥ smoothDr > 0
 * unless both smoothings are 0, which the caller then asks for).
 *
 * @returns a scalar in [0, 1].
 * @throws MrnError `E_INVALID_ARGUMENT` if the shapes of logits, targets and valid disagree, targets
 *   are not int32 or hold ids outside [0, C), or a smoothing is negative.
 */
export function diceLoss(
  logits: tf.Tensor5D,
  targets: SegmentationTargets,
  options: DiceLossOptions = {},
): tf.Scalar {
  const fn = 'diceLoss';
  const dims = checkSegArguments(fn, logits, targets, options.valid);
  checkDiceOptions(fn, options);
  if ((options.checkTargets ?? true) && !isSoftTargets(targets)) checkClassIds(fn, targets, dims[3]);
  return segmentationTerms(logits, targets, dims, options, false).dice;
}

/**
 * `diceWeight · diceLoss + ceWeight · crossEntropy`, MONAI's `DiceCELoss` with a validity mask. The
 * cross-entropy runs over all C classes (whatever `includeBackground` says, as in MONAI), on the raw
 * logits, averaged over the voxels of valid slices (with `ceClassWeights`: PyTorch's weighted mean).
 * With soft targets t the cross-entropy is `−Σ_v Σ_k w_k t_vk log softmax(z_v)_k / Σ_v Σ_k w_k t_vk`
 * over valid voxels v (w = 1 without class weights, so the normaliser is the valid voxel count):
 * the same weighted mean as for class ids, which it equals on one-hot targets.
 * A batch without any valid slice gives 0 for the cross-entropy and ≈ 0 for the Dice.
 *
 * @returns a scalar.
 * @throws MrnError `E_INVALID_ARGUMENT` as {@link diceLoss}, or for negative term weights.
 */
export function diceCELoss(
  logits: tf.Tensor5D,
  targets: SegmentationTargets,
  options: DiceCELossOptions = {},
): tf.Scalar {
  const fn = 'diceCELoss';
  const dims = checkSegArguments(fn, logits, targets, options.valid);
  checkDiceOptions(fn, options);
  const diceWeight = options.diceWeight ?? 1;
  const ceWeight = options.ceWeight ?? 1;
  checkNonNegative(fn, 'diceWeight', diceWeight);
  checkNonNegative(fn, 'ceWeight', ceWeight);
  const cw = options.ceClassWeights;
  if (
    cw !== undefined &&
    (!Array.isArray(cw) || cw.length !== dims[3] || !cw.every((w) => Number.isFinite(w) && w >= 0))
  ) {
    throw invalidArgument(fn, `ceClassWeights must be ${dims[3]} finite numbers >= 0`, {
      ceClassWeights: cw,
    });
  }
  const eps = options.ceLabelSmoothing ?? 0;
  if (!Number.isFinite(eps) || eps < 0 || eps >= 1)
    throw invalidArgument(fn, `ceLabelSmoothing must be in [0, 1), got ${eps}`);
  if ((options.checkTargets ?? true) && !isSoftTargets(targets)) checkClassIds(fn, targets, dims[3]);
  return tf.tidy(() => {
    const { dice, ce } = segmentationTerms(logits, targets, dims, options, true);
    return tf.add(tf.mul(dice, diceWeight), tf.mul(ce as tf.Scalar, ceWeight)) as tf.Scalar;
  });
}
