/**
 * The state of one training run and its life on disk: a fresh start or a resume from `outDir/last`
 * (model, optimiser slots, generator state, early-stopping state and the epoch log restored, so the
 * run continues exactly), the best and last checkpoints written after each epoch, and the best
 * model reloaded at the end.
 */

import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import path from 'node:path';
import { MrnError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import { createRng, type Rng } from '../rng.js';
import {
  type CheckpointBackbone,
  readCheckpointMeta,
  recoverCheckpoint,
  restoreOptimizerState,
  writeCheckpoint,
} from './checkpoint.js';
import { EarlyStopping } from './early-stopping.js';
import { type EpochRecord, readEpochLog } from './epoch-log.js';
import type { TrainableModel } from './train-step.js';
import type { ResolvedTrainOptions } from './train-options.js';

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

/** Where a run keeps its files: `best/` and `last/` checkpoints and `epochs.jsonl` under `outDir`. */
export interface RunFiles {
  outDir: string;
  lastDir: string;
  bestDir: string;
  logFile: string;
}

/** The files of a run writing into `outDir`; none without one. */
export function runFiles(outDir: string | undefined): RunFiles | undefined {
  if (!outDir) return undefined;
  return {
    outDir,
    lastDir: path.join(outDir, 'last'),
    bestDir: path.join(outDir, 'best'),
    logFile: path.join(outDir, 'epochs.jsonl'),
  };
}

/** Everything a run changes as it goes; a `last` checkpoint stores it, a resume restores it. */
export interface TrainingState<M> {
  /** The model being trained (replaced by the checkpoint's on resume). */
  model: M;
  /** Adam; the trainer disposes it at the end. */
  readonly optimizer: tf.Optimizer;
  /** Batch order and variant choice. */
  rng: Rng;
  /** Early stopping on the monitored metric. */
  early: EarlyStopping;
  /** Epochs completed before this session (0 on a fresh start). */
  startEpoch: number;
  /** Optimiser steps completed. */
  step: number;
  /** Epoch records so far (those of earlier sessions included). */
  history: EpochRecord[];
}

/** What {@link openTrainingState} needs. */
export interface OpenTrainingStateArgs<M> {
  /** The freshly built model (disposed when a resume loads the checkpoint's). */
  model: M;
  opts: ResolvedTrainOptions;
  /** The run's files; none: a fresh in-memory start. */
  files?: RunFiles;
  /** Continue from `last/` when it exists. Default true. */
  resume?: boolean;
  /** Loads a saved model (required to resume). */
  loadModel?: (dir: string) => Promise<M>;
  /** Fold index: the epoch log keeps only this fold's records. */
  fold?: number;
  log?: (line: string) => void;
}

/**
 * The state to train from: fresh, or restored from `files.lastDir`. Checkpoint swaps a crash left
 * half done are put back first, and the epoch log is cut back to the checkpoint's epoch.
 *
 * @throws MrnError `E_CHECKPOINT` when the checkpoint was written with other epochs, batch size,
 *   learning rate or seed; `E_CONFIG` when resuming without `loadModel`.
 */
export async function openTrainingState<M>(args: OpenTrainingStateArgs<M>): Promise<TrainingState<M>> {
  const { opts, files } = args;
  const state: TrainingState<M> = {
    model: args.model,
    optimizer: tf.train.adam(opts.learningRate),
    rng: createRng(opts.seed),
    early: new EarlyStopping({ mode: earlyStoppingMode(opts), patience: opts.patience }),
    startEpoch: 0,
    step: 0,
    history: [],
  };
  if (!files) return state;
  // A crash between the two renames of a checkpoint swap leaves the folder aside: put it back.
  for (const d of [files.lastDir, files.bestDir]) {
    const repaired = recoverCheckpoint(d);
    if (repaired) args.log?.(repaired);
  }
  if (args.resume !== false && fs.existsSync(path.join(files.lastDir, 'checkpoint.json'))) {
    await resumeFromLast(state, args, files.lastDir);
  }
  state.history = trimEpochLog(files, state.startEpoch, args.fold);
  return state;
}

function earlyStoppingMode(opts: ResolvedTrainOptions): 'min' | 'max' {
  return opts.monitor === 'loss' ? 'min' : 'max';
}

/** Restores model, optimiser slots, generator, early stopping and counters from a `last` checkpoint. */
async function resumeFromLast<M>(
  state: TrainingState<M>,
  args: OpenTrainingStateArgs<M>,
  lastDir: string,
): Promise<void> {
  const { opts } = args;
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
  state.model = await args.loadModel(path.join(lastDir, 'model'));
  if (state.model !== args.model) disposeModel(args.model);
  await restoreOptimizerState(lastDir, state.optimizer);
  state.rng = createRng(meta.rngState);
  state.early = new EarlyStopping(
    { mode: earlyStoppingMode(opts), patience: opts.patience },
    meta.earlyStopping,
  );
  state.startEpoch = meta.epoch;
  state.step = meta.step;
  args.log?.(`resuming from ${lastDir} after epoch ${meta.epoch}`);
}

/**
 * Keeps the log consistent with the checkpoint: drops records of epochs after it (a crashed epoch)
 * and of other folds, rewrites the file, and returns the records kept.
 */
function trimEpochLog(files: RunFiles, startEpoch: number, fold: number | undefined): EpochRecord[] {
  const { logFile } = files;
  const kept = fs.existsSync(logFile)
    ? readEpochLog(logFile).filter((r) => r.epoch <= startEpoch && (r.fold ?? -1) === (fold ?? -1))
    : [];
  fs.mkdirSync(files.outDir, { recursive: true });
  writeFileAtomic(logFile, kept.map((r) => `${JSON.stringify(r)}\n`).join(''));
  return kept;
}

/** What checkpoints record besides the state: settings, model and input descriptions, fold. */
export interface CheckpointSettings {
  opts: ResolvedTrainOptions;
  checkpoint: CheckpointContext;
  fold?: number;
}

/**
 * Writes the state after `epoch` as the `best` or `last` checkpoint in `dir`; only `last` carries
 * the optimiser slots (what resuming needs).
 */
export async function saveTrainingCheckpoint<M extends CheckpointableModel>(
  state: TrainingState<M>,
  settings: CheckpointSettings,
  dir: string,
  role: 'best' | 'last',
  epoch: number,
  metrics: Record<string, number>,
): Promise<void> {
  const { checkpoint } = settings;
  await writeCheckpoint(
    dir,
    {
      role,
      epoch,
      step: state.step,
      modelConfig: checkpoint.modelConfig,
      trainConfig: settings.opts,
      preprocessing: checkpoint.preprocessing,
      backbone: checkpoint.backbone,
      rngState: state.rng.state(),
      earlyStopping: state.early.state(),
      metrics,
      extra: { fold: settings.fold },
    },
    {
      saveModel: async (d) => void (await state.model.save(d)),
      optimizer: role === 'last' ? state.optimizer : undefined,
    },
  );
}

/**
 * Puts the best checkpoint's model into the state when the last epoch done was not the best one
 * (disposing the trained one); nothing without a best checkpoint or `loadModel`.
 */
export async function reloadBestModel<M>(
  state: TrainingState<M>,
  files: RunFiles | undefined,
  loadModel: ((dir: string) => Promise<M>) | undefined,
  epochsDone: number,
): Promise<void> {
  if (!files || !loadModel || !fs.existsSync(path.join(files.bestDir, 'checkpoint.json'))) return;
  const bestMeta = readCheckpointMeta(files.bestDir);
  if (bestMeta.epoch === epochsDone) return;
  const best = await loadModel(path.join(files.bestDir, 'model'));
  if (best !== state.model) disposeModel(state.model);
  state.model = best;
}

function disposeModel(model: unknown): void {
  const d = (model as { dispose?: () => unknown }).dispose;
  if (typeof d === 'function') d.call(model);
}
