/**
 * Evaluation on cached features: PD probabilities, attention weights, the objective and per-ROI aux
 * Dice for a list of cases, in fixed-size batches of the unaugmented variant.
 */

import * as tf from '@tensorflow/tfjs';
import { MrnError } from '../errors.js';
import { mrnObjective, type MrnObjectiveWeights } from '../losses/objective.js';
import { RoiDiceAccumulator } from './aux-dice.js';
import { disposeBatch, type FeatureSource, type LabelledCase, makeFeatureBatch } from './feature-batch.js';
import { confusionMatrix, accuracy, rocAuc, balancedAccuracy } from './metrics.js';
import type { TrainableModel } from './train-step.js';

/** One case's prediction. */
export interface CasePrediction {
  caseId: string;
  /** Probability of PD (softmax of the logits, class 1). */
  probPd: number;
  /** Per ROI: slice attention weights `[D]`. */
  sliceAttention: Record<string, number[]>;
  /** Attention of the patient fusion over ROIs, when the model has it. */
  roiAttention?: Record<string, number>;
}

/** Options of {@link predictFromFeatures}. */
export interface PredictFromFeaturesOptions {
  /** Cases per forward pass. Default 16. */
  batchSize?: number;
  /** Which cached variant to use. Default 0 (unaugmented). */
  variant?: number;
}

/** Predictions of `model` for `caseIds` from cached features. Leaves no tensors behind. */
export async function predictFromFeatures(
  model: TrainableModel,
  source: FeatureSource,
  caseIds: readonly string[],
  options: PredictFromFeaturesOptions = {},
): Promise<CasePrediction[]> {
  const bs = options.batchSize ?? 16;
  const out: CasePrediction[] = [];
  for (let start = 0; start < caseIds.length; start += bs) {
    const ids = caseIds.slice(start, start + bs);
    const batch = await makeFeatureBatch(
      source,
      ids,
      ids.map(() => options.variant ?? 0),
    );
    try {
      out.push(...readPredictions(model, batch, ids));
    } finally {
      disposeBatch(batch);
    }
  }
  return out;
}

function readPredictions(
  model: TrainableModel,
  batch: Parameters<TrainableModel['apply']>[0],
  ids: readonly string[],
): CasePrediction[] {
  const read = tf.tidy(() => {
    const o = model.apply(batch, { training: false });
    return {
      prob: tf.softmax(o.logits).slice([0, 1], [-1, 1]).reshape([-1]),
      roiIds: o.roiIds,
      att: o.roiIds.map((r) => o.sliceAttention[r]!),
      roiAtt: o.roiAttention,
    };
  });
  const prob = read.prob.arraySync() as number[];
  const att = read.att.map((t) => t.arraySync() as number[][]);
  const roiAtt = read.roiAtt?.arraySync() as number[][] | undefined;
  tf.dispose([read.prob, ...read.att, ...(read.roiAtt ? [read.roiAtt] : [])]);
  return ids.map((caseId, i) => ({
    caseId,
    probPd: prob[i]!,
    sliceAttention: Object.fromEntries(read.roiIds.map((r, k) => [r, att[k]![i]!])),
    roiAttention: roiAtt ? Object.fromEntries(read.roiIds.map((r, k) => [r, roiAtt[i]![k]!])) : undefined,
  }));
}

/** What {@link evaluateOnFeatures} reports. */
export interface FeatureEvaluation {
  predictions: CasePrediction[];
  /** Mean objective over the evaluation batches (weighted by batch size). */
  loss: number;
  accuracy: number;
  balancedAccuracy: number;
  /** ROC AUC (NaN when one class is absent). */
  auc: number;
  /** Mean foreground aux Dice per ROI (ROIs whose cached features carry masks). */
  dice: Record<string, number>;
}

/**
 * Predictions, objective, accuracy, AUC and aux Dice of `model` on labelled `cases`, from the
 * unaugmented cached features. No bootstrap here (it runs every epoch); see {@link binaryMetrics}.
 */
export async function evaluateOnFeatures(
  model: TrainableModel,
  source: FeatureSource,
  cases: readonly LabelledCase[],
  options: { batchSize?: number; objective?: MrnObjectiveWeights } = {},
): Promise<FeatureEvaluation> {
  if (cases.length === 0) throw new MrnError('E_INVALID_ARGUMENT', 'evaluateOnFeatures: no cases');
  const bs = options.batchSize ?? 16;
  const predictions: CasePrediction[] = [];
  const dice = new RoiDiceAccumulator();
  let lossSum = 0;
  for (let start = 0; start < cases.length; start += bs) {
    const chunk = cases.slice(start, start + bs);
    const ids = chunk.map((c) => c.caseId);
    const batch = await makeFeatureBatch(
      source,
      ids,
      ids.map(() => 0),
      chunk.map((c) => c.label),
    );
    try {
      const read = tf.tidy(() => {
        const o = model.apply(batch, { training: false });
        const terms = mrnObjective(o, batch, options.objective);
        for (const roiId of o.roiIds) {
          const roi = batch.rois[roiId]!;
          if (roi.masks && o.segLogits[roiId]) dice.add(roiId, o.segLogits[roiId]!, roi.masks, roi.valid);
        }
        return terms.total;
      });
      lossSum += read.dataSync()[0]! * chunk.length;
      read.dispose();
      predictions.push(...readPredictions(model, batch, ids));
    } finally {
      disposeBatch(batch);
    }
  }
  const labels = cases.map((c) => c.label);
  const probs = predictions.map((p) => p.probPd);
  const m = confusionMatrix(
    labels,
    probs.map((p) => (p >= 0.5 ? 1 : 0)),
  );
  return {
    predictions,
    loss: lossSum / cases.length,
    accuracy: accuracy(m),
    balancedAccuracy: balancedAccuracy(m),
    auc: rocAuc(labels, probs),
    dice: dice.result(),
  };
}
