/**
 * The training loop on cached features: class-balanced batches with one random augmentation variant
 * per case, {@link trainStep} under a cosine schedule with warm-up, validation every epoch, early
 * stopping, best and last checkpoints, a JSON line per epoch and a progress bar. Resuming from the
 * last checkpoint continues the same run: the model, optimiser slots, generator state and early-stopping
 * state are restored, so the result equals an uninterrupted run. The pieces: {@link TrainOptions}
 * (settings), `training-state.ts` (fresh start or resume, checkpoints), `train-epoch.ts` (an epoch's
 * steps and its validation).
 */

import { MrnError } from '../errors.js';
import { createRng } from '../rng.js';
import { classBalancedBatches } from './balanced-sampler.js';
import { EpochLog, type EpochRecord } from './epoch-log.js';
import type { FeatureSource, LabelledCase } from './feature-batch.js';
import { cosineWithWarmup } from './schedule.js';
import { type EpochContext, stepMemoryProbe, trainEpoch, validateEpoch } from './train-epoch.js';
import { type ResolvedTrainOptions, resolveTrainOptions, type TrainOptions } from './train-options.js';
import {
  type CheckpointableModel,
  type CheckpointContext,
  type CheckpointSettings,
  openTrainingState,
  reloadBestModel,
  type RunFiles,
  runFiles,
  saveTrainingCheckpoint,
  type TrainingState,
} from './training-state.js';

export { type ResolvedTrainOptions, resolveTrainOptions, type TrainOptions } from './train-options.js';
export type { CheckpointableModel, CheckpointContext } from './training-state.js';

/** Arguments of {@link trainOnFeatures}. */
export interface TrainOnFeaturesArgs<M extends CheckpointableModel> {
  /**
   * A freshly built model. The trainer owns it from here on: when resuming (the checkpoint's model is
   * loaded instead) or when the best epoch is reloaded at the end, it is disposed. Use the returned model.
   */
  model: M;
  /** Cached features. */
  source: FeatureSource;
  /** Training cases. */
  train: readonly LabelledCase[];
  /** Validation cases (early stopping and the best checkpoint); none: train all epochs, best = last. */
  val?: readonly LabelledCase[];
  options?: TrainOptions;
  /** Folder for `best/`, `last/` and `epochs.jsonl`. None: nothing is written and resuming is off. */
  outDir?: string;
  /** What checkpoints record about the model and its inputs (required with `outDir`). */
  checkpoint?: CheckpointContext;
  /** Loads a model saved by `model.save` (required to resume, and to return the best model). */
  loadModel?: (dir: string) => Promise<M>;
  /** Continue from `outDir/last` when it exists. Default true. */
  resume?: boolean;
  /** Stop (with a resumable `last` checkpoint) after this epoch, e.g. to split a run into sessions. */
  untilEpoch?: number;
  /** Fold index, recorded in the epoch log. */
  fold?: number;
  /** Progress bar stream; `false` for none. Default `process.stderr`. */
  progress?: false | { write(chunk: string): unknown; isTTY?: boolean };
  /** One line per epoch (summary). Default: none. */
  log?: (line: string) => void;
}

/** What {@link trainOnFeatures} returns. */
export interface TrainOnFeaturesResult<M> {
  /** The model at the best validation epoch (or the last epoch without validation). */
  model: M;
  /** Every epoch's record (including those of a resumed earlier session). */
  history: EpochRecord[];
  /** The best epoch (1-based): the last epoch when there was no validation. */
  bestEpoch: number;
  /** The monitored validation value at the best epoch; null without validation. */
  bestValue: number | null;
  /** Epochs completed. */
  epochsDone: number;
  /** Whether early stopping ended the run. */
  stoppedEarly: boolean;
}

/**
 * Trains `model` on cached features. See the module notes for what each epoch does. Resumes from
 * `outDir/last` when it exists (and `resume` is not false).
 *
 * @throws MrnError `E_CONFIG` for bad options or fewer than two training cases per class;
 *   `E_CHECKPOINT` when a checkpoint to resume from does not belong to this run's settings.
 */
export async function trainOnFeatures<M extends CheckpointableModel>(
  args: TrainOnFeaturesArgs<M>,
): Promise<TrainOnFeaturesResult<M>> {
  const opts = resolveTrainOptions(args.options);
  const { val, outDir } = args;
  if (outDir && !args.checkpoint) {
    throw new MrnError(
      'E_CONFIG',
      'trainOnFeatures: outDir needs a checkpoint context (model config, preprocessing, backbone)',
    );
  }
  const labels = args.train.map((c) => c.label);
  const ctx: EpochContext = {
    source: args.source,
    train: args.train,
    labels,
    opts,
    lr: learningRateSchedule(labels, opts),
    memory: stepMemoryProbe(opts),
    fold: args.fold,
    progress: args.progress,
    log: args.log,
  };
  const files = runFiles(outDir);
  const state = await openTrainingState({ ...args, opts, files });
  const settings: CheckpointSettings = { opts, checkpoint: args.checkpoint!, fold: args.fold };
  const epochLog = files ? new EpochLog(files.logFile) : undefined;
  const lastEpoch = Math.min(opts.epochs, args.untilEpoch ?? opts.epochs);
  let stoppedEarly = false;
  try {
    for (let epoch = state.startEpoch + 1; epoch <= lastEpoch; epoch++) {
      const t0 = Date.now();
      const { record, bar } = await trainEpoch(state, ctx, epoch);
      const { improved, stop } = await validateEpoch(state, ctx, val, record);
      stoppedEarly = stop;
      record.seconds = (Date.now() - t0) / 1000;
      bar?.done(
        `loss ${record.trainLoss.toFixed(4)}${record.val ? ` val acc ${record.val.accuracy!.toFixed(3)} auc ${record.val.auc!.toFixed(3)}` : ''}`,
      );
      state.history.push(record);
      epochLog?.append(record);
      args.log?.(
        `epoch ${epoch}: loss ${record.trainLoss.toFixed(4)}${record.val ? `, val loss ${record.val.loss!.toFixed(4)} acc ${record.val.accuracy!.toFixed(3)} auc ${record.val.auc!.toFixed(3)}` : ''}${improved && val?.length ? ' (best)' : ''}`,
      );
      if (files) await saveEpochCheckpoints(state, settings, files, record, improved || !val?.length);
      if (stoppedEarly) {
        args.log?.(`early stop after epoch ${epoch} (best epoch ${state.early.bestEpoch})`);
        break;
      }
    }
  } finally {
    state.optimizer.dispose();
  }
  return finishRun(state, args, files, stoppedEarly);
}

/**
 * The learning rate by step: cosine with warm-up over all epochs. One epoch's batch count is fixed by
 * the class sizes, so it is computed once, from a throwaway draw.
 */
function learningRateSchedule(
  labels: readonly number[],
  opts: ResolvedTrainOptions,
): (step: number) => number {
  const stepsPerEpoch = classBalancedBatches(labels, createRng(0), { batchSize: opts.batchSize }).length;
  const totalSteps = stepsPerEpoch * opts.epochs;
  return cosineWithWarmup({
    peak: opts.learningRate,
    totalSteps,
    warmupSteps: Math.min(totalSteps, Math.round(opts.warmupEpochs * stepsPerEpoch)),
    minFraction: opts.minLrFraction,
  });
}

/** After an epoch: the `best` checkpoint when it improved, and the `last` one always. */
async function saveEpochCheckpoints<M extends CheckpointableModel>(
  state: TrainingState<M>,
  settings: CheckpointSettings,
  files: RunFiles,
  record: EpochRecord,
  best: boolean,
): Promise<void> {
  const metrics = { trainLoss: record.trainLoss, ...(record.val ?? {}) };
  if (best) await saveTrainingCheckpoint(state, settings, files.bestDir, 'best', record.epoch, metrics);
  await saveTrainingCheckpoint(state, settings, files.lastDir, 'last', record.epoch, metrics);
}

/** The run's result, with the best model (reloaded when the last epoch was not the best). */
async function finishRun<M extends CheckpointableModel>(
  state: TrainingState<M>,
  args: TrainOnFeaturesArgs<M>,
  files: RunFiles | undefined,
  stoppedEarly: boolean,
): Promise<TrainOnFeaturesResult<M>> {
  const { history, early } = state;
  const epochsDone = history.length ? history[history.length - 1]!.epoch : state.startEpoch;
  // Without validation nothing is monitored: the best checkpoint is rewritten every epoch, so the
  // best model is the last one (not the epoch of the lowest training loss).
  const validated = (args.val?.length ?? 0) > 0;
  const bestEpoch = validated ? (early.bestEpoch ?? epochsDone) : epochsDone;
  const bestValue = validated ? early.best : null;
  await reloadBestModel(state, files, args.loadModel, epochsDone);
  return { model: state.model, history, bestEpoch, bestValue, epochsDone, stoppedEarly };
}
