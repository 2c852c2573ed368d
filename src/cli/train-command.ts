import { loadPdcadCases } from '../pdcad/load-cases.js';
import { countSkipReasons, formatSkipReasons } from '../pdcad/problems.js';
import { MrnError } from '../errors.js';
import { PRETRAINED_WEIGHTS_NOTE } from '../train/backbone.js';
import { checkEnoughCases } from '../train/enough-cases.js';
import { assertRunFolderFree } from '../train/run-lock.js';
import { trainMrn, type MrnRunConfig, type MrnRunResult } from '../train/run.js';
import { selectCliBackend } from './cli-model.js';
import { isMrnPresetName, MRN_PRESETS, type MrnPresetName } from '../layers/mrn-presets.js';
import type { CliCommand, CliIO } from './command.js';
import { intOption, parseCommandArgs, requireOptions } from './command.js';
import { printBinaryMetrics } from './metrics-lines.js';

/** `n thing` or `n things`. */
function plural(n: number, thing: string): string {
  return `${n} ${thing}${n === 1 ? '' : 's'}`;
}

/** Parses a positive number option. */
export function numberOption(
  command: string,
  name: string,
  value: string | undefined,
  fallback: number,
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) {
    throw new MrnError('E_USAGE', `mrn ${command}: --${name} must be a positive number, got '${value}'`);
  }
  return n;
}

/** `mrn train`: trains MRN (cross-validated) on a PDCAD-layout folder. */
export const trainCommand: CliCommand = {
  name: 'train',
  summary: 'train MRN on a data folder (k-fold cross-validation, checkpoints, metrics, plots)',
  help: `Usage: mrn train --data DIR --labels CSV [options]

Trains MRN with a frozen slice encoder: every case is preprocessed and encoded once (plus cached
augmentation variants), then the ROI branches and fusion head train on the cached features. With
--folds k >= 2 it cross-validates (the k fold models form the ensemble that 'mrn predict' uses); with
--folds 1 it trains one model (20% of the cases held out for early stopping). Rerunning the same
command resumes an interrupted run from its last checkpoints.

Data: one folder per case (RJPD_###/ with QSM.nii.gz, NM.nii.gz, QSM_mask.nii.gz, NM_mask.nii.gz) and
a CSV 'case,label' (1 = PD, 0 = HC). Cases whose files are broken are reported and skipped.

Options:
  --data DIR          folder of case folders (required)
  --labels CSV        case,label CSV (required)
  --backbone PATH     DINOv2 folder (config.json + model.safetensors), .safetensors or .onnx file.
                      Default: a small randomly initialised ViT (offline; pretrained weights recommended)
  --folds K           cross-validation folds; 1 = a single model (default 5)
  --out DIR           run folder (default runs/mrn)
  --epochs N          epochs per model (default 30)
  --batch-size N      patients per batch, >= 4 (default 8)
  --micro-batch N     patients per micro-batch: larger batches are split and their gradients
                      accumulated exactly (gradient caching); 0 = automatic, from the measured step
                      memory and the wasm heap (default 0)
  --lr X              peak learning rate, Adam with warm-up + cosine (default 3e-4)
  --patience N        early-stopping patience in epochs (default 10)
  --size S            slice size in pixels, a multiple of 14 (default 224)
  --variants N        cached augmentation variants per case (default 4)
  --preset NAME       model architecture: mrn-paper (the paper's sizes, default) or mrn-tiny
  --embed-dim E       token width of the heads (default: the preset's, 256 for mrn-paper)
  --seed N            seed of folds, batches and augmentation (default 0)
  --parallel-folds N  folds trained at once, each in a worker thread with a one-thread backend (the
                      same models as one at a time). Default: on wasm one per core, at most the
                      folds, 4 and ~3 GiB of free memory each; else 1
  --no-feature-store  do not keep the extracted features in OUT/features/ (a rerun in OUT with the
                      same backbone, preprocessing, variants and seed reads them instead of
                      running the backbone; ~70 MB per case for ViT-S at S = 224)
  --help              show this help

Writes OUT/model.json (the ensemble for 'mrn predict'/'mrn eval'), OUT/fold-i/{best,last}/ checkpoints,
OUT/fold-i/epochs.jsonl (one JSON line per epoch), OUT/metrics.json (per-fold and pooled accuracy,
balanced accuracy, AUC, sensitivity, specificity with bootstrap 95% CIs), OUT/cv-predictions.csv,
OUT/plots/{training-curves,roc}.svg and OUT/features/ (the feature store; delete it to free disk).

One run writes to OUT at a time: OUT/.mrn-lock names the running process; a second 'mrn train' on
the same OUT is refused (naming that pid), and a lock left by a killed run is taken over.

Exit codes: 0 trained (skipped cases are listed on stderr and in metrics.json), 2 usage, 3 missing
data, a write that failed (disk full) or OUT in use by another run, 5 too few usable cases, 6 a
checkpoint in OUT belongs to other settings or is damaged, 7 backend.`,
  async run(argv, io) {
    const { values } = parseCommandArgs('train', argv, {
      data: { type: 'string' },
      labels: { type: 'string' },
      backbone: { type: 'string' },
      folds: { type: 'string' },
      out: { type: 'string' },
      epochs: { type: 'string' },
      'batch-size': { type: 'string' },
      'micro-batch': { type: 'string' },
      lr: { type: 'string' },
      patience: { type: 'string' },
      size: { type: 'string' },
      variants: { type: 'string' },
      preset: { type: 'string' },
      'embed-dim': { type: 'string' },
      seed: { type: 'string' },
      'parallel-folds': { type: 'string' },
      'no-feature-store': { type: 'boolean' },
    });
    requireOptions('train', values, ['data', 'labels']);
    const folds = intOption('train', 'folds', values.folds, 5);
    if (folds < 1) throw new MrnError('E_USAGE', 'mrn train: --folds must be >= 1');
    const size = intOption('train', 'size', values.size, 224);
    if (size < 14 || size % 14 !== 0)
      throw new MrnError('E_USAGE', `mrn train: --size must be a multiple of 14, got ${size}`);
    const microBatch = intOption('train', 'micro-batch', values['micro-batch'], 0);
    if (microBatch < 0)
      throw new MrnError('E_USAGE', `mrn train: --micro-batch must be >= 0, got ${microBatch}`);
    const parallelFolds =
      values['parallel-folds'] === undefined
        ? undefined
        : intOption('train', 'parallel-folds', values['parallel-folds'], 1);
    if (parallelFolds !== undefined && parallelFolds < 1)
      throw new MrnError('E_USAGE', `mrn train: --parallel-folds must be >= 1, got ${parallelFolds}`);
    const outDir = values.out ?? 'runs/mrn';
    const config: MrnRunConfig = {
      backbone: values.backbone,
      preprocessing: { size },
      variants: intOption('train', 'variants', values.variants, 4),
      model: {
        preset: presetOption(values.preset),
        // Unset: the preset's width (a run from before --preset, without --embed-dim, resolves the same).
        embedDim:
          values['embed-dim'] === undefined
            ? undefined
            : intOption('train', 'embed-dim', values['embed-dim'], 0),
      },
      train: {
        epochs: intOption('train', 'epochs', values.epochs, 30),
        batchSize: intOption('train', 'batch-size', values['batch-size'], 8),
        microBatchSize: microBatch,
        learningRate: numberOption('train', 'lr', values.lr, 3e-4),
        patience: intOption('train', 'patience', values.patience, 10),
        seed: intOption('train', 'seed', values.seed, 0),
      },
      parallelFolds,
      featureStore: !values['no-feature-store'],
    };
    if (!values.backbone) io.err(PRETRAINED_WEIGHTS_NOTE);
    await selectCliBackend(io);
    // A busy run folder is refused before minutes of loading, not after.
    assertRunFolderFree(outDir);
    const labelled = await loadLabelledCases(values.data, values.labels, folds, io);
    const result = await trainMrn(labelled, folds, config, { outDir, log: (l) => io.err(l) });
    reportRun(result, labelled.length, folds, outDir, io);
    result.models.forEach((m) => m.dispose());
    return 0;
  },
};

/** The `--preset` value, checked against {@link MRN_PRESETS}. */
function presetOption(value: string | undefined): MrnPresetName | undefined {
  if (value === undefined || isMrnPresetName(value)) return value;
  throw new MrnError(
    'E_USAGE',
    `mrn train: --preset must be one of ${Object.keys(MRN_PRESETS).join(', ')}, got '${value}'`,
  );
}

/**
 * The labelled cases of the data folder, with each loading problem on stderr; refuses (exit 5) too
 * few usable cases for `folds` before any preprocessing, naming what was found and why the rest
 * was skipped.
 */
async function loadLabelledCases(
  dataDir: string,
  labels: string,
  folds: number,
  io: CliIO,
): Promise<Awaited<ReturnType<typeof loadPdcadCases>>['cases']> {
  const cohort = await loadPdcadCases(dataDir, { labels });
  for (const p of cohort.problems) {
    io.err(`${p.severity === 'error' ? 'skipped' : 'warning'} ${p.caseId}: ${p.reason} [${p.code}]`);
  }
  const labelled = cohort.cases.filter((c) => c.label === 0 || c.label === 1);
  io.err(`${labelled.length} labelled cases (${cohort.excluded.length} excluded)`);
  const skipReasons = countSkipReasons(cohort.problems);
  checkEnoughCases(
    labelled.map((c) => c.label!),
    folds,
    {
      dir: dataDir,
      foundIn: `${plural(cohort.caseFolders, 'case folder')} and ${plural(cohort.csvRows ?? 0, 'CSV row')}`,
      skipped: formatSkipReasons(skipReasons),
      details: {
        caseFolders: cohort.caseFolders,
        csvRows: cohort.csvRows,
        skipReasons: Object.fromEntries(skipReasons),
      },
    },
  );
  return labelled;
}

/** Cases skipped while training on stderr; pooled metrics (k >= 2) or the case count, and the run folder. */
function reportRun(result: MrnRunResult, labelled: number, folds: number, outDir: string, io: CliIO): void {
  for (const f of result.failed) io.err(`skipped ${f.caseId}: ${f.error.message}`);
  const r = result.report;
  if (r) {
    io.out(
      `MRN ${folds}-fold cross-validation on ${r.predictions.length} cases (backbone: ${result.backbone.kind})`,
    );
    printBinaryMetrics(io, r.pooled);
  } else {
    io.out(`MRN trained on ${labelled - result.failed.length} cases (backbone: ${result.backbone.kind})`);
  }
  io.out(`model: ${outDir} (mrn predict --model ${outDir} ...)`);
}
