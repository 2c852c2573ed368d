/**
 * bench/train: time of one training epoch on cached frozen-backbone features, and of the feature
 * extraction (the uncached first epoch), on a synthetic cohort.
 *
 *   npx tsx bench/train.ts [cases=200] [size=56] [backbone=]   (backbone: DINOv2 folder or .onnx)
 *
 * Prints one table. Feature extraction is timed on the first min(cases, 20) cases and extrapolated
 * linearly to all cases (per-case work is independent), so the tfjs figure does not take hours.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  CachedFeatureSource,
  extractFeatures,
  loadPdcadCases,
  MRN_PRESETS,
  MultiRoiNet,
  resolveBackbone,
  resolvePreprocessOptions,
  roiSpecsFromDefinitions,
  selectBackend,
  SliceEncoder,
  trainOnFeatures,
} from '../src/index.js';
import { makeSyntheticCohort } from '../src/synth/index.js';

const cases = Number(process.argv[2] ?? 200);
const size = Number(process.argv[3] ?? 56);
const backboneSpec = process.argv[4] || undefined;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mrn-bench-train-'));
const report = await selectBackend({ optimizeWasm: true });
const t0 = Date.now();
await makeSyntheticCohort({ outDir: dir, cases, seed: 3, fov: 'small' });
const genS = (Date.now() - t0) / 1000;
const cohort = await loadPdcadCases(dir, { labels: path.join(dir, 'train_cases.csv') });
const prep = resolvePreprocessOptions({ size });
const bb = await resolveBackbone(backboneSpec);
const encoder = new SliceEncoder({ backbone: bb.backbone });
const sample = cohort.cases.slice(0, Math.min(20, cases));
// Masks are cached at the aux heads' block resolution: segUpsample must match the model's below.
const first = await extractFeatures(sample, encoder, {
  preprocessing: prep,
  variants: 4,
  progress: false,
  segUpsample: MRN_PRESETS['mrn-tiny'].segUpsample,
});
const perCase = first.seconds / sample.length;
// Cache every case for the epoch timing (the same per-case cost; measured above on the first ones).
const source: CachedFeatureSource = first.source;
if (cases > sample.length) {
  await extractFeatures(cohort.cases.slice(sample.length), encoder, {
    preprocessing: prep,
    variants: 4,
    progress: false,
    segUpsample: MRN_PRESETS['mrn-tiny'].segUpsample,
    into: source,
  });
}
const model = new MultiRoiNet({
  rois: roiSpecsFromDefinitions(prep.rois),
  backboneDim: encoder.backbone.embedDim,
  patchSize: encoder.backbone.patchSize,
  sliceSize: size,
  preset: 'mrn-tiny',
  embedDim: 32,
  segHiddenDim: 16,
  projectionDim: 32,
});
const train = cohort.cases.map((c) => ({ caseId: c.id, label: c.label! }));
const t1 = Date.now();
const res = await trainOnFeatures({
  model,
  source,
  train,
  options: { epochs: 2, batchSize: 8 },
  progress: false,
});
const epochS = (Date.now() - t1) / 1000 / 2;
res.model.dispose();
console.log(
  `backend ${report.backend} (${report.threads} threads), backbone ${bb.info.kind}, S=${size}, ${cases} cases`,
);
console.log('| step | seconds |');
console.log('|---|---|');
console.log(`| generate cohort (${cases} cases) | ${genS.toFixed(1)} |`);
console.log(`| feature extraction, per case (4 variants) | ${perCase.toFixed(2)} |`);
console.log(
  `| uncached first epoch (extraction of ${cases} cases, extrapolated) | ${(perCase * cases).toFixed(0)} |`,
);
console.log(`| cached epoch (${cases} cases, batch 8, heads E=32) | ${epochS.toFixed(1)} |`);
bb.dispose();
fs.rmSync(dir, { recursive: true, force: true });
