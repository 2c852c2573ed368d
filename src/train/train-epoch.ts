/**
 * One epoch of the trainer: class-balanced batches with one random augmentation variant per case,
 * {@link trainStep} on each under the learning-rate schedule, then validation and the early-stopping
 * decision. The epoch's means become its {@link EpochRecord}.
 */

import * as tf from '@tensorflow/tfjs';
import type { MrnBatch } from '../layers/types.js';
import type { MrnObjectiveWeights } from '../losses/objective.js';
import { classBalancedBatches } from './balanced-sampler.js';
import type { EarlyStoppingDecision } from './early-stopping.js';
import type { EpochRecord } from './epoch-log.js';
import { evaluateOnFeatures } from './evaluate.js';
import { disposeBatch, type FeatureSource, type LabelledCase, makeFeatureBatch } from './feature-batch.js';
import type { StepMemory } from './grad-accumulation.js';
import { ProgressBar } from './progress.js';
import {
  measureTrainStepMemory,
  resolveMicroBatchSize,
  type TrainableModel,
  trainStep,
  type TrainStepResult,
} from './train-step.js';
import type { ResolvedTrainOptions } from './train-options.js';
import type { TrainingState } from './training-state.js';

/** What every epoch of a run shares. */
export interface EpochContext {
  source: FeatureSource;
  /** Training cases. */
  train: readonly LabelledCase[];
  /** Their labels, in the same order. */
  labels: readonly number[];
  opts: ResolvedTrainOptions;
  /** Learning rate by optimiser step. */
  lr: (step: number) => number;
  /** Automatic micro-batches: the step memory, measured once per run (see {@link StepMemoryProbe}). */
  memory: StepMemoryProbe;
  /** Fold index (progress label and epoch record). */
  fold?: number;
  /** Progress bar stream; `false` for none. */
  progress?: false | { write(chunk: string): unknown; isTTY?: boolean };
  log?: (line: string) => void;
}

/**
 * Automatic micro-batches are sized from the peak memory of a one-patient step, measured once, on
 * the first batch, where the heap is limited (wasm); elsewhere, or with a set size, nothing is measured.
 */
export interface StepMemoryProbe {
  /** Whether the measurement was taken (or is not needed). */
  checked: boolean;
  /** The measurement, once taken. */
  measured?: StepMemory;
}

/** A probe for a run with these options on the current backend. */
export function stepMemoryProbe(opts: ResolvedTrainOptions): StepMemoryProbe {
  return { checked: opts.microBatchSize > 0 || tf.getBackend() !== 'wasm' };
}

/** What {@link trainEpoch} returns: the record (validation not yet in) and its open progress bar. */
export interface TrainedEpoch {
  record: EpochRecord;
  bar?: ProgressBar;
}

const TERMS = ['total', 'classification', 'segmentation', 'contrastive', 'gradNorm'] as const;
type TermSums = Record<(typeof TERMS)[number], number>;

/**
 * Trains one epoch: draws the batches and variants from `state.rng`, steps the optimiser on each
 * (advancing `state.step`) and returns the epoch's mean losses, gradient norm and last learning rate.
 */
export async function trainEpoch<M extends TrainableModel>(
  state: TrainingState<M>,
  ctx: EpochContext,
  epoch: number,
): Promise<TrainedEpoch> {
  const { opts, labels, fold } = ctx;
  const batches = classBalancedBatches(labels, state.rng, { batchSize: opts.batchSize });
  const bar =
    ctx.progress === false
      ? undefined
      : new ProgressBar({
          total: batches.length,
          label: `${fold !== undefined ? `fold ${fold + 1} ` : ''}epoch ${epoch}/${opts.epochs}`,
          stream: ctx.progress,
        });
  const sums: TermSums = { total: 0, classification: 0, segmentation: 0, contrastive: 0, gradNorm: 0 };
  for (const idx of batches) {
    const r = await trainBatch(state, ctx, idx);
    for (const k of TERMS) sums[k] += r[k];
    bar?.tick(1, `loss ${r.total.toFixed(4)}`);
  }
  const n = batches.length;
  const record: EpochRecord = {
    epoch,
    ...(fold !== undefined ? { fold } : {}),
    trainLoss: sums.total / n,
    terms: {
      classification: sums.classification / n,
      segmentation: sums.segmentation / n,
      contrastive: sums.contrastive / n,
    },
    gradNorm: sums.gradNorm / n,
    lr: ctx.lr(state.step - 1),
    seconds: 0,
  };
  return { record, bar };
}

/** One optimiser step on the cases at `idx` (one random variant each). */
async function trainBatch<M extends TrainableModel>(
  state: TrainingState<M>,
  ctx: EpochContext,
  idx: readonly number[],
): Promise<TrainStepResult> {
  const { opts, labels } = ctx;
  const ids = idx.map((i) => ctx.train[i]!.caseId);
  const variants = idx.map(() => state.rng.int(0, ctx.source.variants));
  const batch = await makeFeatureBatch(
    ctx.source,
    ids,
    variants,
    idx.map((i) => labels[i]!),
  );
  try {
    if (!ctx.memory.checked) await probeStepMemory(state.model, batch, ctx);
    const r = trainStep(state.model, state.optimizer, batch, {
      weights: opts.objective,
      clipNorm: opts.clipNorm,
      learningRate: ctx.lr(state.step),
      microBatchSize: opts.microBatchSize > 0 ? opts.microBatchSize : undefined,
      stepMemory: ctx.memory.measured,
    });
    state.step++;
    return r;
  } finally {
    disposeBatch(batch);
  }
}

/** Measures (or recalls) the step memory on the first batch and logs the micro-batch size it gives. */
async function probeStepMemory(model: TrainableModel, batch: MrnBatch, ctx: EpochContext): Promise<void> {
  const { opts, memory } = ctx;
  const key = stepMemoryKey(model, batch, opts.objective);
  const stepMemory =
    measuredStepMemory.get(key) ?? (await measureTrainStepMemory(model, batch, opts.objective));
  measuredStepMemory.set(key, stepMemory);
  memory.measured = stepMemory;
  memory.checked = true;
  const m = resolveMicroBatchSize(opts.batchSize, { stepMemory });
  ctx.log?.(
    `micro-batches of ${m} patient${m === 1 ? '' : 's'} (a step needs ~${(stepMemory.fixedBytes / 2 ** 20).toFixed(0)} MiB + ${(stepMemory.bytesPerSample / 2 ** 20).toFixed(0)} MiB per patient at peak)`,
  );
}

/**
 * Step memory measured in this process, by model and batch shape: the folds of a cross-validation
 * share one measurement (it costs about two training steps).
 */
const measuredStepMemory = new Map<string, StepMemory>();

/** What a step's memory depends on: the weights' shapes, the batch's per-sample shapes, the objective. */
function stepMemoryKey(model: TrainableModel, batch: MrnBatch, objective: MrnObjectiveWeights): string {
  const rois = Object.entries(batch.rois).map(([id, input]) => [
    id,
    Object.entries(input).map(([k, t]) => [k, (t as tf.Tensor).shape.slice(1), (t as tf.Tensor).dtype]),
  ]);
  return JSON.stringify([tf.getBackend(), model.trainableWeights.map((w) => w.shape), rois, objective]);
}

/**
 * Validates the epoch's model on `val` (filling `record.val` and `record.valDice`) and updates early
 * stopping with the monitored metric. Without validation cases, early stopping tracks the training
 * loss instead and the epoch counts as improved (best = last).
 */
export async function validateEpoch<M extends TrainableModel>(
  state: TrainingState<M>,
  ctx: EpochContext,
  val: readonly LabelledCase[] | undefined,
  record: EpochRecord,
): Promise<EarlyStoppingDecision> {
  const { opts, source } = ctx;
  if (!val || val.length === 0) {
    // Nothing validated: track the training loss, lowest best, in the state's own direction.
    state.early.update(state.early.mode === 'min' ? record.trainLoss : -record.trainLoss, record.epoch);
    return { improved: true, stop: false };
  }
  const ev = await evaluateOnFeatures(state.model, source, val, {
    batchSize: opts.evalBatchSize,
    objective: opts.objective,
  });
  record.val = {
    loss: ev.loss,
    accuracy: ev.accuracy,
    balancedAccuracy: ev.balancedAccuracy,
    auc: ev.auc,
  };
  record.valDice = ev.dice;
  return state.early.update(monitorValue(opts.monitor, record.val), record.epoch);
}

function monitorValue(monitor: ResolvedTrainOptions['monitor'], val: Record<string, number>): number {
  return monitor === 'loss' ? val.loss! : monitor === 'accuracy' ? val.accuracy! : val.auc!;
}
