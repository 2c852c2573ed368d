/**
 * Synthetic cohort benchmark and calibration: generates N cases in memory (same code path as
 * `mrn synth`, files encoded but not written), times the stages, computes the baseline features and
 * reports the logistic-regression baseline's 5-fold CV accuracy (three fold seeds).
 *
 *   npx tsx bench/synth.ts [cases=200] [fov=small|full] [difficulty=default] [seed=1]
 */
import { crossValidateBaseline, type BaselineSample } from '../src/baselines/cross-validate.js';
import { extractBaselineFeatures } from '../src/baselines/roi-features.js';
import { encodeSyntheticCase, generateSyntheticCase } from '../src/synth/cohort.js';
import { DEFAULT_DIFFICULTY } from '../src/synth/disease.js';

const cases = Number(process.argv[2] ?? 200);
const fov = (process.argv[3] ?? 'small') as 'small' | 'full';
const difficulty = Number(process.argv[4] ?? DEFAULT_DIFFICULTY);
const seed = Number(process.argv[5] ?? 1);
const cpu = () => process.cpuUsage().user / 1e6;

let genWall = 0;
let genCpu = 0;
let encWall = 0;
let bytes = 0;
const samples: BaselineSample[] = [];
for (let i = 0; i < cases; i++) {
  let t = performance.now();
  let c0 = cpu();
  const c = generateSyntheticCase(i, { cases, seed, fov, difficulty });
  genWall += performance.now() - t;
  genCpu += cpu() - c0;
  t = performance.now();
  c0 = cpu();
  const files = encodeSyntheticCase(c);
  encWall += performance.now() - t;
  genCpu += cpu() - c0;
  for (const b of Object.values(files)) bytes += b.length;
  samples.push({ id: c.id, label: c.label, features: extractBaselineFeatures(c) });
}
console.log(`cases ${cases}, fov ${fov}, difficulty ${difficulty}, seed ${seed}`);
console.log('| stage | wall s/case | note |');
console.log('|---|---|---|');
console.log(`| generate (masks + images) | ${(genWall / 1000 / cases).toFixed(2)} | |`);
console.log(
  `| encode 4 NIfTI (gzip) | ${(encWall / 1000 / cases).toFixed(2)} | ${(bytes / cases / 1e6).toFixed(1)} MB/case |`,
);
console.log(`| total CPU (user) | ${(genCpu / cases).toFixed(2)} | one thread |`);
for (const foldSeed of [0, 1, 2]) {
  const r = crossValidateBaseline(samples, { folds: 5, seed: foldSeed });
  console.log(
    `baseline 5-fold CV (fold seed ${foldSeed}): accuracy ${(r.accuracy * 100).toFixed(1)}%, AUC ${r.auc.toFixed(3)}`,
  );
}
