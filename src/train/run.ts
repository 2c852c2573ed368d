/**
 * The whole training workflow from case folders: resolve the backbone, preprocess and encode every
 * case once (frozen backbone, cached augmentation variants), cross-validate (or train one model),
 * and write everything a person or `loadMrn` needs into one run folder:
 *
 * ```
 * OUT/model.json           ensemble manifest (fold checkpoints, backbone, preprocessing) — loadMrn(OUT)
 * OUT/backbone/            the random default backbone's weights (when no --backbone was given)
 * OUT/fold-<i>/best|last/  checkpoints; OUT/fold-<i>/epochs.jsonl  the JSON epoch log
 * OUT/metrics.json         per-fold and pooled metrics with 95% CIs, failed cases, timings, settings
 * OUT/cv-predictions.csv   out-of-fold predictions (k >= 2)
 * OUT/plots/               training-curves.svg, roc.svg
 * OUT/features/           every case's extracted features, reused by a rerun (`featureStore`)
 * OUT/.mrn-lock            while a run writes there: its pid (see run-lock)
 * ```
 */

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AugmentationOptions } from '../preprocess/augment/pipeline.js';
import { type PdcadCase } from '../pdcad/pdcad-case.js';
import { type PreprocessOptions, resolvePreprocessOptions } from '../pdcad/preprocess-case.js';
import { MrnError } from '../errors.js';
import { countSkipReasons, formatSkipReasons } from '../pdcad/problems.js';
import { checkEnoughCases } from './enough-cases.js';
import type { FeatureCacheOptions } from './feature-cache.js';
import { MultiRoiNet, type MultiRoiNetConfig, roiSpecsFromDefinitions } from '../layers/multi-roi-net.js';
import { SliceEncoder } from '../layers/slice-encoder.js';
import { rocSvg } from '../plots/roc-plot.js';
import { trainingCurvesSvg } from '../plots/training-curves.js';
import { MRN_VERSION } from '../version.js';
import { type ResolvedBackbone, resolveBackbone, saveVitWeights } from './backbone.js';
import { acquireRunLock } from './run-lock.js';
import type { CheckpointBackbone } from './checkpoint.js';
import { crossValidateOnFeatures, type CrossValidationReport, innerSplit } from './cross-validate.js';
import { defaultParallelFolds } from './fold-workers.js';
import { readEpochLog, type EpochRecord } from './epoch-log.js';
import type { FailedCase } from './feature-extraction.js';
import { extractRunFeatures } from './run-features.js';
import type { BootstrapOptions } from './metrics.js';
import { rocCurve } from './metrics.js';
import { type TrainOptions, resolveTrainOptions, trainOnFeatures } from './trainer.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import type { RunLock } from './run-lock.js';
import type { FeatureSource, LabelledCase } from './feature-batch.js';
import type { ResolvedTrainOptions } from './train-options.js';
import type { CheckpointContext } from './training-state.js';

/** Everything a training run is configured by. Every field has a documented default. */
export interface MrnRunConfig {
  /** DINOv2 folder / `.safetensors` / `.onnx`; undefined: the small random default ViT. */
  backbone?: string;
  /** Preprocessing (ROIs, slice size S = 224, intensity). */
  preprocessing?: PreprocessOptions;
  /** Cached augmentation variants per case (variant 0 unaugmented). Default 4. */
  variants?: number;
  /** Augmentation ranges. Default: the pipeline's. */
  augmentation?: AugmentationOptions;
  /** Feature cache (precision, memory budget, spill folder). Default: float32, 1 GiB, spill into OUT/cache. */
  cache?: FeatureCacheOptions;
  /** Model sizes (ROIs, backbone width and slice size are filled in). Default: MultiRoiNet's. */
  model?: Omit<MultiRoiNetConfig, 'rois' | 'backboneDim' | 'sliceSize' | 'patchSize'>;
  /** Training settings per model. */
  train?: TrainOptions;
  /** Inner validation fraction for early stopping. Default 0.2. */
  valFraction?: number;
  /** Bootstrap of the confidence intervals. Default 1000 resamples, seed 0. */
  bootstrap?: BootstrapOptions;
  /**
   * Folds trained at the same time, each in a worker thread with a single-threaded backend (same
   * models as one at a time; needs `outDir`). Default {@link defaultParallelFolds}: on wasm one per
   * core (at most the folds, 4, and ~3 GiB of free memory each), elsewhere 1.
   */
  parallelFolds?: number;
  /**
   * Keep every case's extracted features in `OUT/features/` (one checksummed file per case; needs
   * `outDir`), and read them back instead of extracting when a later run in the same folder has the
   * same backbone, preprocessing, variants, augmentation and seed, and the case's files are
   * unchanged: a rerun after a crash, or other head settings, skip the backbone. Costs disk as large
   * as the features (about 70 MB per case for ViT-S at S = 224 with 4 variants). Default true.
   */
  featureStore?: boolean;
}

/** Where a run writes and talks. */
export interface MrnRunIO {
  /** Run folder (see the module notes). None: nothing is written (no checkpoints, no resume). */
  outDir?: string;
  /** Progress bars. Default `process.stderr`; false for none. */
  progress?: false | { write(chunk: string): unknown; isTTY?: boolean };
  /** Human-readable log lines. */
  log?: (line: string) => void;
  /** An already resolved backbone (else `config.backbone` is resolved and disposed at the end). */
  backbone?: ResolvedBackbone;
}

/** The ensemble manifest `OUT/model.json` that {@link loadMrn} reads. */
export interface EnsembleManifest {
  format: 'mrn-ensemble';
  formatVersion: 1;
  mrnVersion: string;
  /** Checkpoint folders, relative to the manifest. */
  members: string[];
  backbone: CheckpointBackbone;
  /** Resolved preprocessing settings (including the ROI definitions). */
  preprocessing: unknown;
}

/** What {@link trainMrn} returns. */
export interface MrnRunResult {
  /** Cross-validation results (k >= 2); undefined for a single model (k = 1). */
  report?: CrossValidationReport;
  /** The trained models (fold models, or the single model); the caller disposes them. */
  models: MultiRoiNet[];
  /** Cases that could not be preprocessed or encoded (reported and skipped). */
  failed: FailedCase[];
  backbone: CheckpointBackbone;
  modelConfig: MultiRoiNetConfig;
  /** Wall time of feature extraction and of training, seconds. */
  seconds: { features: number; training: number };
  /** The run folder, when written. */
  outDir?: string;
}

/**
 * Trains MRN on labelled cases: with `k >= 2`, k-fold cross-validation (the fold models form the
 * ensemble); with `k = 1`, one model on all cases (an inner validation split drives early stopping).
 * Cases that fail preprocessing are reported in `failed` and skipped.
 *
 * @throws MrnError `E_TOO_FEW_CASES` when too few usable cases remain ({@link casesNeeded}), before or
 *   after preprocessing; `E_CONFIG` for bad settings.
 */
export async function trainMrn(
  cases: ReadonlyArray<Pick<PdcadCase, 'id' | 'label' | 'files'>>,
  k: number,
  config: MrnRunConfig = {},
  io: MrnRunIO = {},
): Promise<MrnRunResult> {
  checkRunCases(cases, k);
  const trainOptions = resolveTrainOptions(config.train);
  const prep = resolvePreprocessOptions(config.preprocessing);
  const variants = config.variants ?? 4;
  const { outDir } = io;
  const lock = lockRunFolder(outDir, io.log);
  let resolved: ResolvedBackbone;
  try {
    resolved = io.backbone ?? (await resolveBackbone(config.backbone));
  } catch (error) {
    lock?.release();
    throw error;
  }
  try {
    const info = await recordBackbone(resolved, prep.size, outDir);
    const encoder = new SliceEncoder({ name: 'run_slice_encoder', backbone: resolved.backbone });
    const extracted = await extractRunFeatures(cases, encoder, config, io, {
      prep,
      variants,
      seed: trainOptions.seed,
      backbone: info,
    });
    for (const f of extracted.failed) io.log?.(`skipped case ${f.caseId}: ${f.error.message}`);
    const usable = cases
      .filter((c) => !extracted.failed.some((f) => f.caseId === c.id))
      .map((c) => ({ caseId: c.id, label: c.label as number }));
    const checkpoint = runCheckpointContext(config, prep, variants, encoder, info);
    const { modelConfig, preprocessing } = checkpoint;
    const t0 = Date.now();
    let trained: TrainedModels;
    try {
      checkUsableCases(cases.length, usable, extracted.failed, k);
      trained = await trainModels(extracted.source, usable, k, { config, trainOptions, checkpoint }, io);
    } finally {
      extracted.source.clear();
    }
    const { report, models, members } = trained;
    const seconds = { features: extracted.seconds, training: (Date.now() - t0) / 1000 };
    if (outDir) {
      const failed = extracted.failed;
      writeRunOutputs(outDir, {
        members,
        info,
        preprocessing,
        report,
        failed,
        seconds,
        config,
        k,
        usable: usable.length,
      });
    }
    return { report, models, failed: extracted.failed, backbone: info, modelConfig, seconds, outDir };
  } finally {
    if (!io.backbone) resolved.dispose();
    lock?.release();
  }
}

/**
 * The former name of {@link trainMrn}, which also trains a single model (k = 1).
 *
 * @deprecated Use {@link trainMrn}; this alias will be removed in a future major version.
 */
export const crossValidate = trainMrn;

/** Refuses a bad k, unlabelled cases, or too few cases for k folds before any work. */
function checkRunCases(cases: ReadonlyArray<Pick<PdcadCase, 'id' | 'label'>>, k: number): void {
  if (!Number.isInteger(k) || k < 1)
    throw new MrnError('E_CONFIG', `trainMrn: k must be a positive integer, got ${k}`);
  const unlabelled = cases.filter((c) => c.label !== 0 && c.label !== 1).map((c) => c.id);
  if (unlabelled.length) {
    throw new MrnError(
      'E_CONFIG',
      `trainMrn: cases without a 0/1 label: ${unlabelled.slice(0, 5).join(', ')}`,
      {
        details: { unlabelled },
      },
    );
  }
  checkEnoughCases(
    cases.map((c) => c.label!),
    k,
    { who: 'trainMrn' },
  );
}

/** Creates the run folder and takes its lock: one writer per run folder, a dead run's lock taken over. */
function lockRunFolder(outDir: string | undefined, log: MrnRunIO['log']): RunLock | undefined {
  if (!outDir) return undefined;
  fs.mkdirSync(outDir, { recursive: true });
  const lock = acquireRunLock(outDir, { command: 'mrn train' });
  if (lock.tookOverFrom) {
    log?.(`took over the lock of ${outDir} left by pid ${lock.tookOverFrom.pid}, which is no longer running`);
  }
  return lock;
}

/**
 * What checkpoints record about the backbone. The random default is part of the model: its weights
 * are stored with the run (`outDir/backbone`) so predictions can use it; without a run folder they
 * are fingerprinted from a temporary copy.
 */
async function recordBackbone(
  resolved: ResolvedBackbone,
  size: number,
  outDir: string | undefined,
): Promise<CheckpointBackbone> {
  if (resolved.info.imageSize !== undefined && resolved.info.imageSize !== size) {
    throw new MrnError(
      'E_CONFIG',
      `the backbone takes ${resolved.info.imageSize}x${resolved.info.imageSize} slices but the slice size is ${size}; set the slice size to ${resolved.info.imageSize}`,
    );
  }
  const info: CheckpointBackbone = { ...resolved.info, imageSize: size };
  if (info.kind === 'random' && resolved.vit) {
    const dir = outDir
      ? path.join(outDir, 'backbone')
      : fs.mkdtempSync(path.join(os.tmpdir(), 'mrn-backbone-'));
    info.sha256 = await saveVitWeights(resolved.vit, dir, info.preset);
    info.path = outDir ? path.resolve(dir) : undefined;
    if (!outDir) fs.rmSync(dir, { recursive: true, force: true });
  }
  return info;
}

/** What every checkpoint of the run records: the full model configuration, preprocessing, backbone. */
function runCheckpointContext(
  config: MrnRunConfig,
  prep: Required<PreprocessOptions>,
  variants: number,
  encoder: SliceEncoder,
  backbone: CheckpointBackbone,
): CheckpointContext & { modelConfig: MultiRoiNetConfig } {
  const modelConfig: MultiRoiNetConfig = {
    ...config.model,
    rois: roiSpecsFromDefinitions(prep.rois),
    backboneDim: encoder.backbone.embedDim,
    patchSize: encoder.backbone.patchSize,
    sliceSize: prep.size,
  };
  const preprocessing = { ...prep, variants, augmentation: config.augmentation ?? {} };
  return { modelConfig, preprocessing, backbone };
}

/** After preprocessing: refuses too few usable cases, saying how many failed and why. */
function checkUsableCases(
  total: number,
  usable: readonly LabelledCase[],
  failed: readonly FailedCase[],
  k: number,
): void {
  checkEnoughCases(
    usable.map((c) => c.label),
    k,
    {
      who: 'trainMrn',
      foundIn: `${total} cases, ${failed.length} of which failed preprocessing`,
      skipped: formatSkipReasons(
        countSkipReasons(
          failed.map((f) => ({
            severity: 'error' as const,
            code: f.error instanceof MrnError ? f.error.code : 'E_INTERNAL',
          })),
        ),
      ),
    },
  );
}

/** The models a run trained and the checkpoint folders (relative to the run) that form its ensemble. */
interface TrainedModels {
  report?: CrossValidationReport;
  models: MultiRoiNet[];
  members: string[];
}

/**
 * k >= 2: cross-validation, one model per fold in `fold-<i>/`; k = 1: one model on all cases, with
 * an inner validation split for early stopping, in `fold-1/`.
 */
async function trainModels(
  source: FeatureSource,
  usable: readonly LabelledCase[],
  k: number,
  settings: {
    config: MrnRunConfig;
    trainOptions: ResolvedTrainOptions;
    checkpoint: CheckpointContext & { modelConfig: MultiRoiNetConfig };
  },
  io: MrnRunIO,
): Promise<TrainedModels> {
  const { config, trainOptions, checkpoint } = settings;
  const { outDir } = io;
  if (k >= 2) {
    const report = await crossValidateOnFeatures(
      source,
      usable,
      k,
      {
        model: checkpoint.modelConfig,
        train: trainOptions,
        valFraction: config.valFraction,
        bootstrap: config.bootstrap,
      },
      {
        outDir,
        checkpoint,
        progress: io.progress,
        log: io.log,
        parallelFolds: config.parallelFolds ?? defaultParallelFolds(k),
      },
    );
    return { report, models: report.models, members: report.folds.map((f) => `fold-${f.fold + 1}/best`) };
  }
  const vf = config.valFraction ?? 0.2;
  const split = innerSplit(usable, vf, trainOptions.seed + 1, io.log);
  const result = await trainOnFeatures({
    model: new MultiRoiNet(checkpoint.modelConfig),
    source,
    train: split.train,
    val: split.val,
    options: trainOptions,
    outDir: outDir ? path.join(outDir, 'fold-1') : undefined,
    checkpoint,
    loadModel: (dir) => MultiRoiNet.load(dir),
    progress: io.progress,
    log: io.log,
  });
  return { models: [result.model], members: ['fold-1/best'] };
}

function writeRunOutputs(
  outDir: string,
  r: {
    members: string[];
    info: CheckpointBackbone;
    preprocessing: unknown;
    report?: CrossValidationReport;
    failed: FailedCase[];
    seconds: { features: number; training: number };
    config: MrnRunConfig;
    k: number;
    usable: number;
  },
): void {
  const manifest: EnsembleManifest = {
    format: 'mrn-ensemble',
    formatVersion: 1,
    mrnVersion: MRN_VERSION,
    members: r.members,
    backbone: r.info,
    preprocessing: r.preprocessing,
  };
  writeFileAtomic(path.join(outDir, 'model.json'), JSON.stringify(manifest, null, 2));
  const metrics = {
    mrnVersion: MRN_VERSION,
    k: r.k,
    cases: r.usable,
    failed: r.failed.map((f) => ({
      caseId: f.caseId,
      error: f.error.message,
      code: (f.error as MrnError).code,
    })),
    seconds: r.seconds,
    backbone: r.info,
    // What shaped the results; how many folds trained at once did not (same models either way).
    config: { ...r.config, parallelFolds: undefined, featureStore: undefined },
    pooled: r.report ? r.report.pooled : undefined,
    folds: r.report?.folds.map((f) => ({
      fold: f.fold + 1,
      trainCases: f.trainCases,
      valCases: f.valCases,
      testCases: f.testCases,
      bestEpoch: f.bestEpoch,
      metrics: f.metrics,
    })),
  };
  writeFileAtomic(path.join(outDir, 'metrics.json'), JSON.stringify(metrics, null, 2));
  const plots = path.join(outDir, 'plots');
  fs.mkdirSync(plots, { recursive: true });
  const records: EpochRecord[] = [];
  for (const m of r.members) {
    const log = path.join(outDir, path.dirname(m), 'epochs.jsonl');
    if (fs.existsSync(log)) records.push(...readEpochLog(log));
  }
  if (records.length) writeFileAtomic(path.join(plots, 'training-curves.svg'), trainingCurvesSvg(records));
  if (r.report) {
    const labels = r.report.predictions.map((p) => p.label);
    if (labels.includes(0) && labels.includes(1)) {
      writeFileAtomic(
        path.join(plots, 'roc.svg'),
        rocSvg(
          [
            {
              name: `MRN, ${r.k}-fold CV (pooled)`,
              points: rocCurve(
                labels,
                r.report.predictions.map((p) => p.probPd),
              ),
            },
          ],
          'ROC (out-of-fold)',
        ),
      );
    }
  }
}
