/**
 * The MRN training objective: patient classification cross-entropy + λ_seg · Dice-CE of the auxiliary
 * nucleus masks + λ_con · multi-ROI SupCon, returned term by term for training logs.
 */

import * as tf from '@tensorflow/tfjs';
import { invalidArgument, MrnError } from '../errors.js';
import type { MrnBatch, MrnOutputs } from '../layers/types.js';
import { segTargetsFor } from './block-targets.js';
import { crossEntropyLoss } from './cross-entropy.js';
import { diceCELoss } from './dice.js';
import { multiRoiSupConLoss, type MultiRoiSupConMode } from './multi-roi-supcon.js';

/** Options of the segmentation term of {@link mrnObjective}. */
export interface MrnSegmentationLossOptions {
  /** Include the background class in the Dice mean. Default `false` (the CE still covers it). */
  includeBackground?: boolean;
  /** Dice numerator smoothing. Default 1e-5. */
  smoothNr?: number;
  /** Dice denominator smoothing. Default 1e-5. */
  smoothDr?: number;
  /** Weight of Dice inside Dice-CE. Default 1. */
  diceWeight?: number;
  /** Weight of CE inside Dice-CE. Default 1. */
  ceWeight?: number;
  /** Check mask ids against the number of classes (a small synchronous read per ROI). Default `true`. */
  checkTargets?: boolean;
}

/**
 * The weights and settings of {@link mrnObjective}. The paper does not publish its λs or τ; the
 * defaults here are documented choices, not the paper's numbers.
 */
export interface MrnObjectiveWeights {
  /** λ_seg, weight of the mean Dice-CE over the ROIs with masks. Default 1. 0 skips the term. */
  lambdaSeg?: number;
  /**
   * λ_con, weight of the multi-ROI SupCon. Default 0.1 (SupCon is ~log(2B), several times the
   * ~0.69 of a fresh binary cross-entropy). 0 skips the term.
   */
  lambdaCon?: number;
  /** Label smoothing ε of the classification cross-entropy. Default 0. */
  labelSmoothing?: number;
  /** Per-class weights (length K) of the classification cross-entropy (PyTorch semantics). Default none. */
  classWeights?: number[];
  /** SupCon temperature τ. Default 0.07. */
  temperature?: number;
  /** SupCon base temperature (loss scale τ / τ_base). Default: equal to `temperature`, so the scale is 1. */
  baseTemperature?: number;
  /** Multi-ROI SupCon mode. Default `'per-roi'`. */
  supconMode?: MultiRoiSupConMode;
  /** `'per-roi'` only: SupCon weight per ROI id (missing ids weigh 1). Default: all 1. */
  roiWeights?: Record<string, number>;
  /** Also contrast the patient embedding (see `patientEmbedding` of {@link multiRoiSupConLoss}). Default `false`. */
  includePatientEmbedding?: boolean;
  /** Settings of the segmentation term. */
  segmentation?: MrnSegmentationLossOptions;
}

/** The terms of {@link mrnObjective}: four scalars the caller owns (dispose them). */
export interface MrnLossTerms {
  /** classification + λ_seg · segmentation + λ_con · contrastive. */
  total: tf.Scalar;
  /** Cross-entropy of the patient logits. */
  classification: tf.Scalar;
  /** Mean Dice-CE over the ROIs that have masks (0 when none has, or λ_seg = 0). Unweighted. */
  segmentation: tf.Scalar;
  /** Multi-ROI SupCon (0 when λ_con = 0). Unweighted. */
  contrastive: tf.Scalar;
}

function checkLambda(name: string, value: number): void {
  if (!Number.isFinite(value) || value < 0)
    throw invalidArgument('mrnObjective', `${name} must be a finite number >= 0, got ${value}`);
}

/**
 * The MRN objective for one batch:
 *
 * ```
 * total = CE(logits, labels; ε, classWeights)
 *       + λ_seg · mean_{ROIs with masks} DiceCE(segLogits[roi], masks[roi]; valid[roi])
 *       + λ_con · multiRoiSupCon(projections, labels; mode, τ)
 * ```
 *
 * Masks may be class ids at the logits' resolution, class ids at slice resolution `[B, D, S, S]`
 * against block-resolution logits `[B, D, T, T, K]` (reduced here to per-block class fractions, see
 * `blockTargets`), or fractions already reduced `[B, D, T, T, K]`; both forms of the same masks give
 * the same loss.
 *
 * An ROI contributes to the segmentation term only when its batch input has `masks` and the outputs
 * have `segLogits` for it; ROIs without masks (e.g. at test time, or an ROI whose masks are not
 * trusted) are skipped, and with no such ROI the term is 0. Padding slices (`valid` = 0) never count.
 * A term whose λ is 0 is not computed and reported as 0.
 *
 * Differentiable on every backend (no gather); call it inside `tf.variableGrads`/`optimizer.minimize`
 * with `total` as the loss. Intermediate tensors are freed; the four returned scalars are the caller's.
 *
 * @throws MrnError `E_INVALID_ARGUMENT` if the batch has no labels, shapes disagree (naming the ROI),
 *   or a weight is invalid.
 */
export function mrnObjective(
  outputs: MrnOutputs,
  batch: MrnBatch,
  weights: MrnObjectiveWeights = {},
): MrnLossTerms {
  const labels = batch.labels;
  if (labels === undefined) throw invalidArgument('mrnObjective', 'the batch has no labels');
  const b = outputs.logits.shape[0];
  if (labels.rank !== 1 || labels.shape[0] !== b) {
    throw invalidArgument('mrnObjective', `labels must be [${b}] (one per patient), got [${labels.shape}]`);
  }
  const lambdaSeg = weights.lambdaSeg ?? 1;
  const lambdaCon = weights.lambdaCon ?? 0.1;
  checkLambda('lambdaSeg', lambdaSeg);
  checkLambda('lambdaCon', lambdaCon);
  const intLabels = labels.dtype === 'int32' ? labels : undefined;
  if (intLabels === undefined)
    throw invalidArgument('mrnObjective', `labels must be int32, got ${labels.dtype}`);
  const segOptions = weights.segmentation ?? {};
  const segRois = outputs.roiIds.filter(
    (id) => batch.rois[id]?.masks !== undefined && outputs.segLogits[id] !== undefined,
  );
  const roiWeights =
    weights.roiWeights === undefined ? undefined : outputs.roiIds.map((id) => weights.roiWeights?.[id] ?? 1);
  const temperature = weights.temperature ?? 0.07;
  return tf.tidy(() => {
    const classification = crossEntropyLoss(outputs.logits, intLabels, {
      labelSmoothing: weights.labelSmoothing,
      classWeights: weights.classWeights,
    });
    let segmentation: tf.Scalar = tf.scalar(0);
    if (lambdaSeg > 0 && segRois.length > 0) {
      const perRoi = segRois.map((id) => {
        const roi = batch.rois[id];
        try {
          const logits = outputs.segLogits[id]!;
          return diceCELoss(logits, segTargetsFor(logits, roi.masks!), {
            valid: roi.valid,
            includeBackground: segOptions.includeBackground ?? false,
            smoothNr: segOptions.smoothNr,
            smoothDr: segOptions.smoothDr,
            diceWeight: segOptions.diceWeight,
            ceWeight: segOptions.ceWeight,
            checkTargets: segOptions.checkTargets,
          });
        } catch (error) {
          if (error instanceof MrnError) {
            throw new MrnError(error.code, `mrnObjective: ROI '${id}': ${error.message}`, {
              cause: error,
              details: { roi: id, ...error.details },
            });
          }
          throw error;
        }
      });
      segmentation = tf.div(tf.addN(perRoi), perRoi.length) as tf.Scalar;
    }
    let contrastive: tf.Scalar = tf.scalar(0);
    if (lambdaCon > 0) {
      contrastive = multiRoiSupConLoss(outputs.projections, intLabels, {
        mode: weights.supconMode ?? 'per-roi',
        temperature,
        baseTemperature: weights.baseTemperature ?? temperature,
        weights: roiWeights,
        patientEmbedding: weights.includePatientEmbedding ? outputs.patientEmbedding : undefined,
      });
    }
    let total = tf.clone(classification);
    if (lambdaSeg > 0) total = tf.add(total, tf.mul(segmentation, lambdaSeg));
    if (lambdaCon > 0) total = tf.add(total, tf.mul(contrastive, lambdaCon));
    return { total, classification, segmentation, contrastive };
  });
}
