/**
 * Cross-validation on cached features: k stratified folds, one model per fold (trained with an inner
 * stratified validation split for early stopping), out-of-fold predictions pooled over all cases,
 * per-fold and pooled metrics with bootstrap confidence intervals, and the fold models kept as an
 * ensemble (mean PD probability).
 */

import fs from 'node:fs';
import path from 'node:path';
import { stratifiedKFold, stratifiedSplit } from '../pdcad/folds.js';
import { MrnError } from '../errors.js';
import { MultiRoiNet, type MultiRoiNetConfig } from '../layers/multi-roi-net.js';
import { type CasePrediction, predictFromFeatures } from './evaluate.js';
import type { FeatureSource, LabelledCase } from './feature-batch.js';
import {
  type FoldJob,
  FoldWorkerStartError,
  parallelFoldsRefusal,
  trainFoldsInWorkers,
} from './fold-workers.js';
import { binaryMetrics, type BinaryMetrics, type BootstrapOptions } from './metrics.js';
import { type CheckpointContext, trainOnFeatures, type TrainOptions } from './trainer.js';
import { writeFileAtomic } from '../io/atomic-write.js';

/** Settings of {@link crossValidateOnFeatures}. */
export interface CrossValidationConfig {
  /** The complete model configuration (ROIs, backbone width, slice size...). */
  model: MultiRoiNetConfig;
  /** Training settings of every fold. */
  train?: TrainOptions;
  /** Fraction of each fold's training cases held out for early stopping (0: none). Default 0.2. */
  valFraction?: number;
  /** Seed of the fold assignment. Default: the training seed (0). */
  foldSeed?: number;
  /** Bootstrap settings of the confidence intervals. Default 1000 resamples, seed 0. */
  bootstrap?: BootstrapOptions;
}

/** One fold's outcome. */
export interface FoldResult {
  /** 0-based fold index. */
  fold: number;
  trainCases: number;
  valCases: number;
  testCases: number;
  bestEpoch: number;
  /** Metrics on the fold's held-out cases. */
  metrics: BinaryMetrics;
  /** Out-of-fold predictions. */
  predictions: Array<CasePrediction & { label: number }>;
}

/** What {@link crossValidateOnFeatures} returns. */
export interface CrossValidationReport {
  k: number;
  folds: FoldResult[];
  /** Metrics of all out-of-fold predictions together. */
  pooled: BinaryMetrics;
  /** Every case's out-of-fold prediction, in input order. */
  predictions: Array<CasePrediction & { label: number; fold: number }>;
  /** The fold models (best epoch each): the ensemble. The caller disposes them. */
  models: MultiRoiNet[];
  /** Folders of the fold checkpoints (`fold-<i>/best`), when `outDir` was given. */
  checkpointDirs: string[];
}

/**
 * The inner train/validation split of a training set. Validation is skipped (all cases train) when
 * `valFraction` is 0 or the split would leave fewer than two cases of a class to train on (the
 * contrastive loss needs two per class in every batch) or an empty validation class.
 */
export function innerSplit<T extends LabelledCase>(
  cases: readonly T[],
  valFraction: number,
  seed: number,
  log?: (line: string) => void,
): { train: T[]; val: T[] } {
  if (valFraction <= 0) return { train: [...cases], val: [] };
  const count = (xs: readonly T[], y: number) => xs.filter((c) => c.label === y).length;
  try {
    const split = stratifiedSplit(cases, valFraction, seed);
    if (
      count(split.train, 0) >= 2 &&
      count(split.train, 1) >= 2 &&
      count(split.val, 0) >= 1 &&
      count(split.val, 1) >= 1
    ) {
      return split;
    }
  } catch (error) {
    if (!(error instanceof MrnError)) throw error;
  }
  log?.(`too few cases for a validation split (${cases.length}); training without early stopping`);
  return { train: [...cases], val: [] };
}

/** Mean PD probability and attention of several models (an ensemble) on cached features. */
export async function predictEnsembleFromFeatures(
  models: readonly MultiRoiNet[],
  source: FeatureSource,
  caseIds: readonly string[],
): Promise<CasePrediction[]> {
  if (models.length === 0) throw new MrnError('E_INVALID_ARGUMENT', 'predictEnsembleFromFeatures: no models');
  const all: CasePrediction[][] = [];
  for (const m of models) all.push(await predictFromFeatures(m, source, caseIds));
  return averagePredictions(all);
}

/** Averages per-model predictions of the same cases (probabilities and attention weights). */
export function averagePredictions(all: readonly CasePrediction[][]): CasePrediction[] {
  const n = all.length;
  return all[0]!.map((first, i) => {
    const mean = (f: (p: CasePrediction) => number) => all.reduce((s, preds) => s + f(preds[i]!), 0) / n;
    const sliceAttention: Record<string, number[]> = {};
    for (const roi of Object.keys(first.sliceAttention)) {
      sliceAttention[roi] = first.sliceAttention[roi]!.map((_, d) => mean((p) => p.sliceAttention[roi]![d]!));
    }
    const roiAttention = first.roiAttention
      ? Object.fromEntries(Object.keys(first.roiAttention).map((r) => [r, mean((p) => p.roiAttention![r]!)]))
      : undefined;
    return { caseId: first.caseId, probPd: mean((p) => p.probPd), sliceAttention, roiAttention };
  });
}

/** Where {@link crossValidateOnFeatures} writes and talks. */
export interface CrossValidationIO {
  /** Run folder: `fold-<i>/` per fold and `cv-predictions.csv`. None: nothing is written. */
  outDir?: string;
  /** What checkpoints record (required with `outDir`). */
  checkpoint?: CheckpointContext;
  /** Progress bar stream; `false` for none. */
  progress?: false | { write(chunk: string): unknown; isTTY?: boolean };
  log?: (line: string) => void;
  /**
   * Folds trained at the same time, each in a worker thread with its own single-threaded backend
   * (see ./fold-workers.ts; same models as one at a time). Needs `outDir` and `checkpoint`; otherwise,
   * or for a configuration a worker cannot receive, folds run one at a time and `log` says why.
   * Default 1.
   */
  parallelFolds?: number;
}

/**
 * k-fold cross-validation of MRN on cached features. With `outDir`, each fold trains into
 * `outDir/fold-<i>/` (best and last checkpoints, epoch log) and an interrupted run resumes fold by fold.
 */
export async function crossValidateOnFeatures(
  source: FeatureSource,
  cases: readonly LabelledCase[],
  k: number,
  config: CrossValidationConfig,
  io: CrossValidationIO = {},
): Promise<CrossValidationReport> {
  const seed = config.foldSeed ?? config.train?.seed ?? 0;
  const folds = stratifiedKFold(cases, k, seed);
  const results: FoldResult[] = [];
  const models: MultiRoiNet[] = [];
  const checkpointDirs: string[] = [];
  const foldOf = new Map<string, number>();
  // In fold order, whichever way they trained.
  (await trainFolds(source, folds, k, seed, config, io)).forEach(({ result, model, checkpointDir }, i) => {
    models.push(model);
    if (checkpointDir) checkpointDirs.push(checkpointDir);
    for (const c of folds[i]!.test) foldOf.set(c.caseId, result.fold);
    results.push(result);
  });
  const byId = new Map(results.flatMap((r) => r.predictions.map((p) => [p.caseId, p] as const)));
  const predictions = cases.map((c) => ({ ...byId.get(c.caseId)!, fold: foldOf.get(c.caseId)! }));
  const pooled = binaryMetrics(
    predictions.map((p) => p.label),
    predictions.map((p) => p.probPd),
    config.bootstrap,
  );
  if (io.outDir) writeCvPredictions(io.outDir, predictions);
  return { k, folds: results, pooled, predictions, models, checkpointDirs };
}

type TrainedFold = { result: FoldResult; model: MultiRoiNet; checkpointDir?: string };

/**
 * `make` for each item in order, collecting the trained folds; if one fails, the models made so far
 * are disposed before the error goes on.
 */
async function collectFolds<T>(
  items: readonly T[],
  make: (item: T) => Promise<TrainedFold>,
): Promise<TrainedFold[]> {
  const trained: TrainedFold[] = [];
  try {
    for (const item of items) trained.push(await make(item));
  } catch (error) {
    for (const t of trained) t.model.dispose();
    throw error;
  }
  return trained;
}

/** Every fold, in workers (`io.parallelFolds`) or one at a time, with its model, in fold order. */
async function trainFolds(
  source: FeatureSource,
  folds: readonly FoldJob[],
  k: number,
  seed: number,
  config: CrossValidationConfig,
  io: CrossValidationIO,
): Promise<TrainedFold[]> {
  const wanted = io.parallelFolds ?? 1;
  const parallel = wanted > 1 && folds.length > 1;
  const refusal = parallel ? parallelFoldsRefusal(config, io) : undefined;
  if (refusal) io.log?.(`folds run one at a time: ${refusal}`);
  if (parallel && !refusal) {
    const workers = Math.min(wanted, folds.length);
    io.log?.(`training ${folds.length} folds, ${workers} at a time (one worker thread each)`);
    try {
      const outcomes = await trainFoldsInWorkers(source, folds, k, seed, config, io, workers);
      return await collectFolds(outcomes, async (o) => ({
        ...o,
        model: await MultiRoiNet.load(path.join(o.checkpointDir, 'model')),
      }));
    } catch (error) {
      if (!(error instanceof FoldWorkerStartError)) throw error;
      // Folds a worker finished before another failed to start resume from their checkpoints.
      io.log?.(`fold workers could not start (${error.message}): folds run one at a time`);
    }
  }
  return collectFolds(folds, (fold) => trainFold(source, fold, k, seed, config, io));
}

/**
 * One fold: its model (seed offset by the fold index) trained with an inner validation split, into
 * `fold-<i>/` when writing, then scored on the fold's held-out cases. Exported for the fold workers
 * (./fold-worker.ts), which run exactly this.
 */
export async function trainFold(
  source: FeatureSource,
  fold: { index: number; train: readonly LabelledCase[]; test: readonly LabelledCase[] },
  k: number,
  seed: number,
  config: CrossValidationConfig,
  io: CrossValidationIO,
): Promise<{ result: FoldResult; model: MultiRoiNet; checkpointDir?: string }> {
  const split = innerSplit(fold.train, config.valFraction ?? 0.2, seed + 1 + fold.index, io.log);
  io.log?.(
    `fold ${fold.index + 1}/${k}: ${split.train.length} train, ${split.val.length} val, ${fold.test.length} test cases`,
  );
  const outDir = io.outDir ? path.join(io.outDir, `fold-${fold.index + 1}`) : undefined;
  const model = new MultiRoiNet({ ...config.model, seed: (config.model.seed ?? 0) + fold.index });
  const trained = await trainOnFeatures({
    model,
    source,
    train: split.train,
    val: split.val,
    options: config.train,
    outDir,
    checkpoint: io.checkpoint,
    loadModel: (dir) => MultiRoiNet.load(dir),
    fold: fold.index,
    progress: io.progress,
    log: io.log,
  });
  let preds: CasePrediction[];
  try {
    preds = await predictFromFeatures(
      trained.model,
      source,
      fold.test.map((c) => c.caseId),
    );
  } catch (error) {
    trained.model.dispose();
    throw error;
  }
  const labelled = preds.map((p, i) => ({ ...p, label: fold.test[i]!.label }));
  const metrics = binaryMetrics(
    labelled.map((p) => p.label),
    labelled.map((p) => p.probPd),
    config.bootstrap,
  );
  io.log?.(
    `fold ${fold.index + 1}/${k}: test accuracy ${metrics.accuracy.value.toFixed(3)}, AUC ${metrics.auc.value.toFixed(3)} (best epoch ${trained.bestEpoch})`,
  );
  const result: FoldResult = {
    fold: fold.index,
    trainCases: split.train.length,
    valCases: split.val.length,
    testCases: fold.test.length,
    bestEpoch: trained.bestEpoch,
    metrics,
    predictions: labelled,
  };
  return { result, model: trained.model, checkpointDir: outDir && path.join(outDir, 'best') };
}

/** `outDir/cv-predictions.csv`: every case's out-of-fold prediction, one row each. */
function writeCvPredictions(
  outDir: string,
  predictions: ReadonlyArray<{ caseId: string; label: number; fold: number; probPd: number }>,
): void {
  fs.mkdirSync(outDir, { recursive: true });
  const rows = predictions.map(
    (p) => `${p.caseId},${p.label},${p.fold + 1},${p.probPd.toFixed(6)},${p.probPd >= 0.5 ? 1 : 0}`,
  );
  writeFileAtomic(
    path.join(outDir, 'cv-predictions.csv'),
    ['case,label,fold,prob_pd,pred', ...rows].join('\n') + '\n',
  );
}
