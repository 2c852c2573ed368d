/**
 * `npm run demo`: the whole MRN workflow on this machine, in minutes, on data made on the spot.
 *
 * 1. Generates a small synthetic PD/HC cohort in the challenge's layout (small field of view).
 * 2. Trains MRN with k-fold cross-validation: a frozen slice encoder (a small random ViT by default;
 *    set MRN_DEMO_BACKBONE to a DINOv2 folder or an ONNX export to use it) runs once per case and
 *    cached augmentation variant, then the ROI branches and fusion head train on the cached features
 *    on tfjs-wasm (XNNPACK matmuls, threads: optimizeWasm).
 * 3. Prints the settings it used and the cross-validated metrics next to the classical baseline
 *    (logistic regression on per-nucleus QSM means and NM-SN volume/contrast) on the same cases.
 *
 * This is a demonstration at reduced size (cohort, backbone, heads), not the full method. It runs at
 * the paper's slice size S = 224 since issue 13 made the heads' step fast enough (6 min 13 s on 2
 * cores; S = 56 takes 1 min 48 s). Environment: MRN_DEMO_CASES (60), MRN_DEMO_FOLDS (5),
 * MRN_DEMO_EPOCHS (20), MRN_DEMO_SIZE (224), MRN_DEMO_VARIANTS (1), MRN_DEMO_HEADS (tiny; 'paper' for
 * the default heads, which overfit 48 cases per fold at this learning rate: docs/benchmarks.md),
 * MRN_DEMO_BACKBONE (unset: random tiny ViT), MRN_DEMO_OUT (a temporary folder).
 *
 * Why these settings (measured on the demo cohort; README "Training, evaluation and prediction"):
 * - No augmentation variants (1 = the unaugmented case only). With an untrained random encoder, an
 *   augmented view of a case lands as far from the original in feature space as another patient does
 *   (rotation/scale, intensity: 1.5x the between-case distance), and a linear probe trained on the
 *   augmented views is at chance on the real ones; drawn for 3 of 4 training samples, they left MRN
 *   at chance. Pretrained DINOv2 features should be more invariant (not measured here); try
 *   MRN_DEMO_VARIANTS=4 with MRN_DEMO_BACKBONE.
 * - No inner validation split (valFraction 0): 48 training cases per fold would leave 10 for early
 *   stopping, whose AUC is noise (it picked epochs 1, 3 and 4 in three of five folds, before the
 *   heads had fit anything). The last epoch is kept.
 * - 20 epochs at a peak learning rate of 2e-3: at 12 epochs and 1e-3 the heads did not even fit
 *   their training folds (training accuracy ~0.6).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { crossValidateBaseline } from '../src/baselines/cross-validate.js';
import { loadBaselineSamples } from '../src/baselines/load-baseline-samples.js';
import {
  trainMrn,
  formatMetric,
  loadPdcadCases,
  PRETRAINED_WEIGHTS_NOTE,
  selectBackend,
} from '../src/index.js';
import { makeSyntheticCohort } from '../src/synth/index.js';

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const cases = env('MRN_DEMO_CASES', 60);
const folds = env('MRN_DEMO_FOLDS', 5);
const epochs = env('MRN_DEMO_EPOCHS', 20);
const variants = env('MRN_DEMO_VARIANTS', 1);
const learningRate = 2e-3;
const size = env('MRN_DEMO_SIZE', 224);
const backbone = process.env.MRN_DEMO_BACKBONE || undefined;
// 'tiny': small heads (E = 32); 'paper': the default MultiRoiNet heads (E = 256, the paper's sizes).
const heads = process.env.MRN_DEMO_HEADS ?? 'tiny';
if (heads !== 'tiny' && heads !== 'paper') throw new Error(`MRN_DEMO_HEADS must be tiny or paper, got ${heads}`);
const model =
  heads === 'tiny'
    ? { preset: 'mrn-tiny' as const, embedDim: 32, segHiddenDim: 16, projectionDim: 32 }
    : { preset: 'mrn-paper' as const };
const out = process.env.MRN_DEMO_OUT ?? fs.mkdtempSync(path.join(os.tmpdir(), 'mrn-demo-'));
const seed = 1;
const t0 = Date.now();
const seconds = () => ((Date.now() - t0) / 1000).toFixed(0);

const report = await selectBackend({ optimizeWasm: true });
console.log(`mrn demo — backend ${report.backend} (${report.threads} thread(s)); output in ${out}`);
console.log(
  `settings: ${cases} synthetic cases (small FOV 160x160x40 at 0.667x0.667x2 mm), ${folds}-fold CV, ` +
    `slice size S=${size}, backbone ${backbone ?? 'random tiny ViT (E=64, 3 blocks), frozen'}, ` +
    `${heads === 'tiny' ? 'heads E=32' : 'default heads (E=256)'}, ${epochs} epochs, batch 8, peak lr ${learningRate}, no inner validation split, ` +
    `${variants === 1 ? 'no augmentation' : `${variants} cached augmentation variants`}`,
);
console.log('(a reduced-size demonstration, not the full method: S=224 and pretrained DINOv2 for real data)');
if (!backbone) console.log(PRETRAINED_WEIGHTS_NOTE);

const data = path.join(out, 'data');
console.log(`\n[1/3] generating the cohort ...`);
const cohortSummary = await makeSyntheticCohort({ outDir: data, cases, seed, fov: 'small' });
console.log(`      ${cases} cases in ${cohortSummary.seconds.toFixed(0)} s`);

console.log(`[2/3] classical baseline (logistic regression, ${folds}-fold CV) ...`);
const { samples } = await loadBaselineSamples(data, { labels: cohortSummary.labelsCsv });
const baseline = crossValidateBaseline(samples, { folds, seed });

console.log(`[3/3] MRN (${folds}-fold CV) ...`);
const cohort = await loadPdcadCases(data, { labels: cohortSummary.labelsCsv });
const run = await trainMrn(
  cohort.cases,
  folds,
  {
    backbone,
    preprocessing: { size },
    variants,
    valFraction: 0,
    model,
    train: { epochs, batchSize: 8, learningRate, seed },
    bootstrap: { iterations: 1000, seed },
  },
  { outDir: path.join(out, 'run'), progress: false, log: (l) => console.log(`      ${l}`) },
);
run.models.forEach((m) => m.dispose());
const m = run.report!.pooled;
console.log(`\nResults (${run.report!.predictions.length} cases, out-of-fold, 95% bootstrap CIs):`);
console.log(`  method                       accuracy               AUC`);
console.log(
  `  baseline (logistic, ROI)     ${baseline.accuracy.toFixed(3)}                  ${baseline.auc.toFixed(3)}`,
);
console.log(`  MRN (this demo)              ${formatMetric(m.accuracy)}  ${formatMetric(m.auc)}`);
console.log(
  `  MRN balanced acc ${formatMetric(m.balancedAccuracy)}, sensitivity ${formatMetric(m.sensitivity)}, specificity ${formatMetric(m.specificity)}`,
);
console.log(
  `\ntimings: features ${run.seconds.features.toFixed(0)} s, training ${run.seconds.training.toFixed(0)} s, total ${seconds()} s`,
);
console.log(`run folder: ${path.join(out, 'run')} (model.json, metrics.json, plots/*.svg)`);
console.log(
  `try: npx tsx src/cli/main.ts predict --data ${data} --model ${path.join(out, 'run')} --out pred.csv`,
);
