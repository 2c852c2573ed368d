/**
 * The trainer's settings: {@link TrainOptions} with each default stated once, and their validation.
 */

import { MrnError } from '../errors.js';
import type { MrnObjectiveWeights } from '../losses/objective.js';

/** Training settings. Every default is documented; none is a hidden constant. */
export interface TrainOptions {
  /** Epochs. Default 30. */
  epochs?: number;
  /** Patients per batch (at least 4: the contrastive loss needs two per class). Default 8. */
  batchSize?: number;
  /** Peak learning rate of Adam. Default 3e-4. */
  learningRate?: number;
  /** Linear warm-up, in epochs. Default 1. */
  warmupEpochs?: number;
  /** Final learning rate as a fraction of the peak. Default 0.01. */
  minLrFraction?: number;
  /** Global gradient-norm clip. Default 1. */
  clipNorm?: number;
  /** Early-stopping patience in epochs (needs validation cases). Default 10. */
  patience?: number;
  /** Validation metric for early stopping and the best checkpoint. Default `auc`. */
  monitor?: 'auc' | 'accuracy' | 'loss';
  /** Seed of batch order and variant choice. Default 0. */
  seed?: number;
  /** Weights of the objective's terms. Default: {@link mrnObjective}'s. */
  objective?: MrnObjectiveWeights;
  /** Batch size of evaluation passes. Default 16. */
  evalBatchSize?: number;
  /**
   * Patients per micro-batch: a batch is split into micro-batches of this size and their gradients
   * accumulated exactly (gradient caching, see `objectiveGradients`), so the requested batch always
   * fits. Default 0 = automatic: on the wasm backend, the peak memory of a one-patient step is
   * measured once, on the first batch, and the largest micro-batch that fits the 4 GiB heap is used;
   * other backends keep the batch whole.
   */
  microBatchSize?: number;
}

/** {@link TrainOptions} with every default filled in. */
export type ResolvedTrainOptions = Required<Omit<TrainOptions, 'objective'>> & {
  objective: MrnObjectiveWeights;
};

/** Fills in defaults and validates. Throws `E_CONFIG` naming the bad setting. */
export function resolveTrainOptions(o: TrainOptions = {}): ResolvedTrainOptions {
  const r: ResolvedTrainOptions = {
    epochs: o.epochs ?? 30,
    batchSize: o.batchSize ?? 8,
    learningRate: o.learningRate ?? 3e-4,
    warmupEpochs: o.warmupEpochs ?? 1,
    minLrFraction: o.minLrFraction ?? 0.01,
    clipNorm: o.clipNorm ?? 1,
    patience: o.patience ?? 10,
    monitor: o.monitor ?? 'auc',
    seed: o.seed ?? 0,
    objective: o.objective ?? {},
    evalBatchSize: o.evalBatchSize ?? 16,
    microBatchSize: o.microBatchSize ?? 0,
  };
  const posInt = (k: keyof ResolvedTrainOptions) => {
    const v = r[k] as number;
    if (!Number.isInteger(v) || v < 1)
      throw new MrnError('E_CONFIG', `training option ${k} must be a positive integer, got ${v}`);
  };
  (['epochs', 'batchSize', 'patience', 'evalBatchSize'] as const).forEach(posInt);
  if (!Number.isInteger(r.microBatchSize) || r.microBatchSize < 0) {
    throw new MrnError(
      'E_CONFIG',
      `training option microBatchSize must be 0 (automatic) or a positive integer, got ${r.microBatchSize}`,
    );
  }
  if (!(r.learningRate > 0))
    throw new MrnError('E_CONFIG', `training option learningRate must be > 0, got ${r.learningRate}`);
  if (!(r.warmupEpochs >= 0 && r.warmupEpochs <= r.epochs)) {
    throw new MrnError(
      'E_CONFIG',
      `training option warmupEpochs must be in [0, epochs], got ${r.warmupEpochs}`,
    );
  }
  if (!['auc', 'accuracy', 'loss'].includes(r.monitor)) {
    throw new MrnError(
      'E_CONFIG',
      `training option monitor must be auc, accuracy or loss, got '${r.monitor}'`,
    );
  }
  if (!Number.isSafeInteger(r.seed))
    throw new MrnError('E_CONFIG', `training option seed must be an integer, got ${r.seed}`);
  return r;
}
