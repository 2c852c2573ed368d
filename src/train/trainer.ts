/**
 * The training loop on cached features: class-balanced batches with one random augmentation variant
 * per case, {@link trainStep} under a cosine schedule with warm-up, validation every epoch, early
 * stopping, best and last checkpoints, a JSON line per epoch and a progress bar. Resuming from the
 * last checkpoint continues the same run: the model, optimiser slots, generator state and early-stopping
 * state are restored, so the result equals an uninterrupted run.
 */

import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import path from 'node:path';
import { MrnError } from '../errors.js';
import type { MrnBatch } from '../layers/types.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import type { MrnObjectiveWeights } from '../losses/objective.js';
import { createRng } from '../rng.js';
import { classBalancedBatches } from './balanced-sampler.js';
import {
  type CheckpointBackbone,
  readCheckpointMeta,
  recoverCheckpoint,
  restoreOptimizerState,
  writeCheckpoint,
} from './checkpoint.js';
import { EarlyStopping } from './early-stopping.js';
import { EpochLog, type EpochRecord, readEpochLog } from './epoch-log.js';
import { evaluateOnFeatures } from './evaluate.js';
import { disposeBatch, type FeatureSource, type LabelledCase, makeFeatureBatch } from './feature-batch.js';
import { ProgressBar } from './progress.js';
import { cosineWithWarmup } from './schedule.js';
import type { StepMemory } from './grad-accumulation.js';
import {
  measureTrainStepMemory,
  resolveMicroBatchSize,
  type TrainableModel,
  trainStep,
} from './train-step.js';

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

/** A model the trainer can checkpoint: {@link TrainableModel} plus `save(dir)`. `MultiRoiNet` fits. */
export interface CheckpointableModel extends TrainableModel {
  save(dir: string): Promise<unknown>;
}

/** What the trainer writes into checkpoints besides its own state. */
export interface CheckpointContext {
  /** The model's configuration. */
  modelConfig: unknown;
  /** Preprocessing settings (ROIs, slice size, augmentation variants). */
  preprocessing: unknown;
  /** The backbone the features came from. */
  backbone: CheckpointBackbone;
}

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

function monitorValue(monitor: ResolvedTrainOptions['monitor'], val: Record<string, number>): number {
  return monitor === 'loss' ? val.loss! : monitor === 'accuracy' ? val.accuracy! : val.auc!;
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
  const { source, train, val, outDir } = args;
  if (outDir && !args.checkpoint) {
    throw new MrnError(
      'E_CONFIG',
      'trainOnFeatures: outDir needs a checkpoint context (model config, preprocessing, backbone)',
    );
  }
  const labels = train.map((c) => c.label);
  // One epoch's batch count is fixed by the class sizes; compute it once for the schedule.
  const stepsPerEpoch = classBalancedBatches(labels, createRng(0), { batchSize: opts.batchSize }).length;
  const totalSteps = stepsPerEpoch * opts.epochs;
  const lr = cosineWithWarmup({
    peak: opts.learningRate,
    totalSteps,
    warmupSteps: Math.min(totalSteps, Math.round(opts.warmupEpochs * stepsPerEpoch)),
    minFraction: opts.minLrFraction,
  });
  let model = args.model;
  const optimizer = tf.train.adam(opts.learningRate);
  let rng = createRng(opts.seed);
  const stopping = new EarlyStopping({
    mode: opts.monitor === 'loss' ? 'min' : 'max',
    patience: opts.patience,
  });
  let early = stopping;
  let startEpoch = 0;
  let step = 0;
  let history: EpochRecord[] = [];
  const lastDir = outDir ? path.join(outDir, 'last') : undefined;
  const bestDir = outDir ? path.join(outDir, 'best') : undefined;
  const logFile = outDir ? path.join(outDir, 'epochs.jsonl') : undefined;

  // A crash between the two renames of a checkpoint swap leaves the folder aside: put it back.
  for (const d of [lastDir, bestDir]) {
    const repaired = d && recoverCheckpoint(d);
    if (repaired) args.log?.(repaired);
  }
  if (outDir && lastDir && args.resume !== false && fs.existsSync(path.join(lastDir, 'checkpoint.json'))) {
    const meta = readCheckpointMeta(lastDir);
    const saved = meta.trainConfig as ResolvedTrainOptions;
    for (const k of ['epochs', 'batchSize', 'learningRate', 'seed'] as const) {
      if (saved?.[k] !== opts[k]) {
        throw new MrnError(
          'E_CHECKPOINT',
          `cannot resume: ${k} was ${saved?.[k]} in ${lastDir}, now ${opts[k]}; use another --out or the same settings`,
          { file: lastDir },
        );
      }
    }
    if (!args.loadModel) throw new MrnError('E_CONFIG', 'trainOnFeatures: resuming needs loadModel');
    model = await args.loadModel(path.join(lastDir, 'model'));
    if (model !== args.model) disposeModel(args.model);
    await restoreOptimizerState(lastDir, optimizer);
    rng = createRng(meta.rngState);
    early = new EarlyStopping(
      { mode: opts.monitor === 'loss' ? 'min' : 'max', patience: opts.patience },
      meta.earlyStopping,
    );
    startEpoch = meta.epoch;
    step = meta.step;
    args.log?.(`resuming from ${lastDir} after epoch ${meta.epoch}`);
  }
  if (logFile) {
    // Keep the log consistent with the checkpoint: drop records of epochs after it (a crashed epoch).
    const kept = fs.existsSync(logFile)
      ? readEpochLog(logFile).filter((r) => r.epoch <= startEpoch && (r.fold ?? -1) === (args.fold ?? -1))
      : [];
    fs.mkdirSync(outDir!, { recursive: true });
    writeFileAtomic(logFile, kept.map((r) => `${JSON.stringify(r)}\n`).join(''));
    history = kept;
  }
  const epochLog = logFile ? new EpochLog(logFile) : undefined;
  const lastEpoch = Math.min(opts.epochs, args.untilEpoch ?? opts.epochs);
  let stoppedEarly = false;
  // Automatic micro-batches: measured once, on the first batch, where the heap is limited (wasm).
  let stepMemory: StepMemory | undefined;
  let memoryChecked = opts.microBatchSize > 0 || tf.getBackend() !== 'wasm';

  const save = async (dir: string, role: 'best' | 'last', epoch: number, metrics: Record<string, number>) => {
    await writeCheckpoint(
      dir,
      {
        role,
        epoch,
        step,
        modelConfig: args.checkpoint!.modelConfig,
        trainConfig: opts,
        preprocessing: args.checkpoint!.preprocessing,
        backbone: args.checkpoint!.backbone,
        rngState: rng.state(),
        earlyStopping: early.state(),
        metrics,
        extra: { fold: args.fold },
      },
      {
        saveModel: async (d) => void (await model.save(d)),
        optimizer: role === 'last' ? optimizer : undefined,
      },
    );
  };

  try {
    for (let epoch = startEpoch + 1; epoch <= lastEpoch; epoch++) {
      const t0 = Date.now();
      const batches = classBalancedBatches(labels, rng, { batchSize: opts.batchSize });
      const bar =
        args.progress === false
          ? undefined
          : new ProgressBar({
              total: batches.length,
              label: `${args.fold !== undefined ? `fold ${args.fold + 1} ` : ''}epoch ${epoch}/${opts.epochs}`,
              stream: args.progress,
            });
      const sums = { total: 0, classification: 0, segmentation: 0, contrastive: 0, gradNorm: 0 };
      for (const idx of batches) {
        const ids = idx.map((i) => train[i]!.caseId);
        const variants = idx.map(() => rng.int(0, source.variants));
        const batch = await makeFeatureBatch(
          source,
          ids,
          variants,
          idx.map((i) => labels[i]!),
        );
        try {
          if (!memoryChecked) {
            const key = stepMemoryKey(model, batch, opts.objective);
            stepMemory =
              measuredStepMemory.get(key) ?? (await measureTrainStepMemory(model, batch, opts.objective));
            measuredStepMemory.set(key, stepMemory);
            memoryChecked = true;
            const m = resolveMicroBatchSize(opts.batchSize, { stepMemory });
            args.log?.(
              `micro-batches of ${m} patient${m === 1 ? '' : 's'} (a one-patient step needs ~${(stepMemory.bytesPerSample / 2 ** 20).toFixed(0)} MiB at peak)`,
            );
          }
          const r = trainStep(model, optimizer, batch, {
            weights: opts.objective,
            clipNorm: opts.clipNorm,
            learningRate: lr(step),
            microBatchSize: opts.microBatchSize > 0 ? opts.microBatchSize : undefined,
            stepMemory,
          });
          step++;
          for (const k of Object.keys(sums) as (keyof typeof sums)[]) sums[k] += r[k];
          bar?.tick(1, `loss ${r.total.toFixed(4)}`);
        } finally {
          disposeBatch(batch);
        }
      }
      const n = batches.length;
      const record: EpochRecord = {
        epoch,
        ...(args.fold !== undefined ? { fold: args.fold } : {}),
        trainLoss: sums.total / n,
        terms: {
          classification: sums.classification / n,
          segmentation: sums.segmentation / n,
          contrastive: sums.contrastive / n,
        },
        gradNorm: sums.gradNorm / n,
        lr: lr(step - 1),
        seconds: 0,
      };
      let improved = true;
      if (val && val.length > 0) {
        const ev = await evaluateOnFeatures(model, source, val, {
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
        const decision = early.update(monitorValue(opts.monitor, record.val), epoch);
        improved = decision.improved;
        stoppedEarly = decision.stop;
      } else {
        // Nothing validated: track the training loss, lowest best, in the state's own direction.
        early.update(early.mode === 'min' ? record.trainLoss : -record.trainLoss, epoch);
      }
      record.seconds = (Date.now() - t0) / 1000;
      bar?.done(
        `loss ${record.trainLoss.toFixed(4)}${record.val ? ` val acc ${record.val.accuracy!.toFixed(3)} auc ${record.val.auc!.toFixed(3)}` : ''}`,
      );
      history.push(record);
      epochLog?.append(record);
      args.log?.(
        `epoch ${epoch}: loss ${record.trainLoss.toFixed(4)}${record.val ? `, val loss ${record.val.loss!.toFixed(4)} acc ${record.val.accuracy!.toFixed(3)} auc ${record.val.auc!.toFixed(3)}` : ''}${improved && val?.length ? ' (best)' : ''}`,
      );
      if (outDir) {
        const metrics = { trainLoss: record.trainLoss, ...(record.val ?? {}) };
        if (improved || !val?.length) await save(bestDir!, 'best', epoch, metrics);
        await save(lastDir!, 'last', epoch, metrics);
      }
      if (stoppedEarly) {
        args.log?.(`early stop after epoch ${epoch} (best epoch ${early.bestEpoch})`);
        break;
      }
    }
  } finally {
    optimizer.dispose();
  }
  const epochsDone = history.length ? history[history.length - 1]!.epoch : startEpoch;
  // Without validation nothing is monitored: the best checkpoint is rewritten every epoch, so the
  // best model is the last one (not the epoch of the lowest training loss).
  const validated = (val?.length ?? 0) > 0;
  const bestEpoch = validated ? (early.bestEpoch ?? epochsDone) : epochsDone;
  const bestValue = validated ? early.best : null;
  // Return the best model: reload it when the last epoch was not the best.
  if (bestDir && args.loadModel && fs.existsSync(path.join(bestDir, 'checkpoint.json'))) {
    const bestMeta = readCheckpointMeta(bestDir);
    if (bestMeta.epoch !== epochsDone) {
      const best = await args.loadModel(path.join(bestDir, 'model'));
      if (best !== model) disposeModel(model);
      model = best;
    }
  }
  return { model, history, bestEpoch, bestValue, epochsDone, stoppedEarly };
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

function disposeModel(model: unknown): void {
  const d = (model as { dispose?: () => unknown }).dispose;
  if (typeof d === 'function') d.call(model);
}
