/**
 * Dice of the auxiliary segmentation head, per ROI: how well the head finds the nuclei it is meant to
 * steer the features toward. Counts (overlap, predicted, true voxels per class) are accumulated over
 * batches and the Dice computed once at the end, so a dataset's Dice does not depend on batch size.
 */

import * as tf from '@tensorflow/tfjs';
import { MrnError } from '../errors.js';
import { segTargetsFor } from '../losses/block-targets.js';

/** Per-class voxel counts for one ROI (index = class id; class 0 is background). */
export interface DiceCounts {
  /** Voxels where prediction and truth are both the class. */
  overlap: number[];
  /** Voxels predicted as the class. */
  predicted: number[];
  /** Voxels truly of the class. */
  truth: number[];
}

/**
 * Counts, for `segLogits` `[B, D, H, W, C]` (argmax over C) against `masks`, the per-class overlap /
 * predicted / true voxels over the slices where `valid` `[B, D]` is 1. `masks` are int32 class ids
 * `[B, D, H, W]`, class ids at slice resolution `[B, D, S, S]` for block-resolution logits (reduced
 * to per-block class fractions), or fractions `[B, D, H, W, C]`; a fraction counts as that share of
 * a voxel (so a block half covered by a nucleus adds 0.5 to its truth). Returns plain numbers; no
 * tensors are left behind.
 */
export function diceCounts(
  segLogits: tf.Tensor5D,
  masks: tf.Tensor4D | tf.Tensor5D,
  valid: tf.Tensor2D,
): DiceCounts {
  const [b, d, h, w, c] = segLogits.shape;
  const soft = masks.rank === 5;
  const fits = masks.shape[0] === b && masks.shape[1] === d;
  if ((masks.rank !== 4 && !soft) || !fits || (soft && masks.shape[4] !== c)) {
    throw new MrnError(
      'E_INVALID_ARGUMENT',
      `diceCounts: masks shape [${masks.shape}] does not match segLogits [${segLogits.shape}] (expected [${b}, ${d}, ${h}, ${w}] or [${b}, ${d}, ${h}, ${w}, ${c}])`,
    );
  }
  if (valid.rank !== 2 || valid.shape[0] !== b || valid.shape[1] !== d) {
    throw new MrnError('E_INVALID_ARGUMENT', `diceCounts: valid shape [${valid.shape}] must be [${b}, ${d}]`);
  }
  const counts = tf.tidy(() => {
    const targets = segTargetsFor(segLogits, masks);
    if (targets.shape[2] !== h || targets.shape[3] !== w) {
      throw new MrnError(
        'E_INVALID_ARGUMENT',
        `diceCounts: masks shape [${masks.shape}] does not match segLogits [${segLogits.shape}]`,
      );
    }
    const pred = tf.oneHot(tf.argMax(segLogits, -1).reshape([-1]), c); // [V, C]
    const truth =
      targets.rank === 5 ? targets.reshape([-1, c]) : tf.oneHot(targets.toInt().reshape([-1]), c).toFloat();
    // One weight per voxel: the validity of its slice.
    const weight = valid
      .reshape([b, d, 1])
      .tile([1, 1, h * w])
      .reshape([-1, 1]);
    const p = pred.toFloat().mul(weight);
    const t = truth.mul(weight);
    return tf.stack([p.mul(t).sum(0), p.sum(0), t.sum(0)]);
  });
  const values = counts.arraySync() as number[][];
  counts.dispose();
  return { overlap: values[0]!, predicted: values[1]!, truth: values[2]! };
}

/** Adds `b` into `a` (same class count), returning `a`. */
export function addDiceCounts(a: DiceCounts, b: DiceCounts): DiceCounts {
  if (a.overlap.length !== b.overlap.length) {
    throw new MrnError(
      'E_INVALID_ARGUMENT',
      `addDiceCounts: class counts differ (${a.overlap.length} vs ${b.overlap.length})`,
    );
  }
  for (let k = 0; k < a.overlap.length; k++) {
    a.overlap[k]! += b.overlap[k]!;
    a.predicted[k]! += b.predicted[k]!;
    a.truth[k]! += b.truth[k]!;
  }
  return a;
}

/**
 * Dice per foreground class (`2·overlap / (predicted + truth)`), and their mean over the classes that
 * occur in the truth or the prediction. A class absent from both is NaN in `perClass` and left out of
 * the mean (nothing to find, nothing wrongly found); the mean is NaN when no class occurs at all.
 */
export function diceFromCounts(counts: DiceCounts): { perClass: number[]; mean: number } {
  const perClass: number[] = [];
  let sum = 0;
  let n = 0;
  for (let k = 1; k < counts.overlap.length; k++) {
    const denom = counts.predicted[k]! + counts.truth[k]!;
    const dice = denom === 0 ? NaN : (2 * counts.overlap[k]!) / denom;
    perClass.push(dice);
    if (!Number.isNaN(dice)) {
      sum += dice;
      n++;
    }
  }
  return { perClass, mean: n === 0 ? NaN : sum / n };
}

/** Accumulates {@link DiceCounts} per ROI over batches. */
export class RoiDiceAccumulator {
  private readonly counts = new Map<string, DiceCounts>();

  /** Adds one batch of one ROI. */
  add(roiId: string, segLogits: tf.Tensor5D, masks: tf.Tensor4D | tf.Tensor5D, valid: tf.Tensor2D): void {
    const c = diceCounts(segLogits, masks, valid);
    const prev = this.counts.get(roiId);
    this.counts.set(roiId, prev ? addDiceCounts(prev, c) : c);
  }

  /** Mean foreground Dice per ROI id. */
  result(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [roi, c] of this.counts) out[roi] = diceFromCounts(c).mean;
    return out;
  }
}
