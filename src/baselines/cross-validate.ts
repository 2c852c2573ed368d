/**
 * K-fold stratified cross-validation of the logistic-regression baseline over per-case feature
 * vectors: out-of-fold probabilities, accuracy (threshold 0.5), per-fold accuracy and ROC AUC.
 */

import { MrnError } from '../errors.js';
import { stratifiedKFold } from '../pdcad/folds.js';
import { rocAuc } from '../train/metrics.js';
import { fitLogisticRegression, predictLogistic, type LogisticOptions } from './logistic-regression.js';

/** One labelled case's features. */
export interface BaselineSample {
  /** Case id. */
  id: string;
  /** 1 = PD, 0 = HC. */
  label: 0 | 1;
  /** Feature vector (same length for every case). */
  features: number[];
}

/** Options of {@link crossValidateBaseline}. */
export interface CrossValidateBaselineOptions extends LogisticOptions {
  /** Number of folds. Default 5. */
  folds?: number;
  /** Seed of the stratified fold assignment. Default 0. */
  seed?: number;
}

/** Cross-validation result. */
export interface BaselineCrossValidationResult {
  /** Fraction of cases whose out-of-fold prediction (p >= 0.5) matches the label. */
  accuracy: number;
  /** Accuracy of each fold. */
  foldAccuracy: number[];
  /** ROC AUC of the out-of-fold probabilities. */
  auc: number;
  /** Out-of-fold P(PD) per case id. */
  probabilities: Record<string, number>;
  /** Number of cases. */
  n: number;
}

/**
 * Runs stratified k-fold CV ({@link stratifiedKFold}) of {@link fitLogisticRegression}: each fold's
 * model is fitted (with its own standardisation) on the other folds and scores the held-out cases.
 */
export function crossValidateBaseline(
  samples: readonly BaselineSample[],
  options: CrossValidateBaselineOptions = {},
): BaselineCrossValidationResult {
  const k = options.folds ?? 5;
  if (samples.length < k) {
    throw new MrnError(
      'E_TOO_FEW_CASES',
      `crossValidateBaseline: ${samples.length} cases cannot fill ${k} folds`,
    );
  }
  const folds = stratifiedKFold(samples, k, options.seed ?? 0);
  const probabilities: Record<string, number> = {};
  const foldAccuracy: number[] = [];
  for (const fold of folds) {
    const model = fitLogisticRegression(
      fold.train.map((s) => s.features),
      fold.train.map((s) => s.label),
      options,
    );
    const p = predictLogistic(
      model,
      fold.test.map((s) => s.features),
    );
    let correct = 0;
    fold.test.forEach((s, i) => {
      probabilities[s.id] = p[i]!;
      if ((p[i]! >= 0.5 ? 1 : 0) === s.label) correct++;
    });
    foldAccuracy.push(correct / fold.test.length);
  }
  const labels = samples.map((s) => s.label);
  const scores = samples.map((s) => probabilities[s.id]!);
  const correct = samples.filter((s) => (probabilities[s.id]! >= 0.5 ? 1 : 0) === s.label).length;
  return {
    accuracy: correct / samples.length,
    foldAccuracy,
    auc: rocAuc(labels, scores),
    probabilities,
    n: samples.length,
  };
}
