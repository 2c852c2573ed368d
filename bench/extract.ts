/**
 * bench/extract: where the time of feature extraction goes, per case, on a synthetic cohort.
 *
 *   npx tsx bench/extract.ts [cases=4] [backbone=] [dir=] [threads=]   (backbone: DINOv2 folder or .onnx)
 *
 * Makes `cases` synthetic cases (the full field of view, as `mrn synth`) unless `dir` holds a cohort,
 * then runs the extraction loop of {@link extractFeatures} with the CLI's defaults (S = 224, 4
 * variants, block-resolution masks, the random tiny ViT unless `backbone`) phase by phase, timing each
 * phase in wall and CPU seconds (`process.cpuUsage`, all threads). Preprocessing is split further by a
 * sampling profile (the inclusive time of its functions), since it is one call. Last, it runs
 * `extractFeatures` itself on the same cases (the end-to-end figure) and prints a sha256 of every
 * cached feature and mask, so two versions of the code can be compared bit for bit. `threads` sets the
 * wasm thread count (default: the CLI's, every core up to 8).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import inspector from 'node:inspector';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  CachedFeatureSource,
  extractFeatures,
  loadPdcadCases,
  resolveBackbone,
  resolvePreprocessOptions,
  selectBackend,
  SliceEncoder,
} from '../src/index.js';
import { preprocessCase } from '../src/pdcad/preprocess-case.js';
import { caseVariants } from '../src/train/feature-extraction.js';
import { makeSyntheticCohort } from '../src/synth/index.js';

const cases = Number(process.argv[2] ?? 4);
const backboneSpec = process.argv[3] || undefined;
const given = process.argv[4] || undefined;
const threads = process.argv[5] ? Number(process.argv[5]) : undefined;
const dir = given ?? fs.mkdtempSync(path.join(os.tmpdir(), 'mrn-bench-extract-'));
if (!given || !fs.existsSync(path.join(dir, 'train_cases.csv'))) {
  await makeSyntheticCohort({ outDir: dir, cases, seed: 1 });
}

/** Wall and CPU seconds of one phase, summed over calls. */
interface PhaseTime {
  wall: number;
  cpu: number;
}
const phases = new Map<string, PhaseTime>();

/** Runs `f`, adding its wall and CPU time to phase `name`. */
async function timed<T>(name: string, f: () => T | Promise<T>): Promise<T> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  try {
    return await f();
  } finally {
    const c = process.cpuUsage(c0);
    const p = phases.get(name) ?? { wall: 0, cpu: 0 };
    p.wall += (performance.now() - t0) / 1000;
    p.cpu += (c.user + c.system) / 1e6;
    phases.set(name, p);
  }
}

/** The inclusive milliseconds of each function name in a V8 CPU profile. */
function inclusiveMs(profile: inspector.Profiler.Profile): Map<string, number> {
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const out = new Map<string, number>();
  const deltas = profile.timeDeltas ?? [];
  (profile.samples ?? []).forEach((id, i) => {
    const seen = new Set<string>();
    for (let x: number | undefined = id; x !== undefined; x = parent.get(x)) {
      const name = byId.get(x)!.callFrame.functionName;
      if (seen.has(name)) continue;
      seen.add(name);
      out.set(name, (out.get(name) ?? 0) + (deltas[i] ?? 0) / 1000);
    }
  });
  return out;
}

/** Starts the sampling profiler; the returned function stops it and gives the profile. */
async function startProfile(): Promise<() => Promise<inspector.Profiler.Profile>> {
  const session = new inspector.Session();
  session.connect();
  const post = <T>(method: string, params?: object) =>
    new Promise<T>((resolve, reject) =>
      session.post(method, params, (err, res) => (err ? reject(err) : resolve(res as T))),
    );
  await post('Profiler.enable');
  await post('Profiler.setSamplingInterval', { interval: 500 });
  await post('Profiler.start');
  return async () => {
    const { profile } = await post<{ profile: inspector.Profiler.Profile }>('Profiler.stop');
    session.disconnect();
    return profile;
  };
}

const report = await selectBackend({ optimizeWasm: threads === undefined ? true : { threads } });
const cohort = await loadPdcadCases(dir, { labels: path.join(dir, 'train_cases.csv') });
const todo = cohort.cases.slice(0, cases);
const prep = resolvePreprocessOptions({});
const bb = await resolveBackbone(backboneSpec);
const encoder = new SliceEncoder({ backbone: bb.backbone });
const variants = 4;
const segUpsample = 4;
const source = new CachedFeatureSource(
  prep.rois.map((r) => r.id),
  variants,
  {},
  { upsample: segUpsample, classes: Object.fromEntries(prep.rois.map((r) => [r.id, r.classes.length])) },
);

// Warm-up (kernel compilation, first allocations): one ROI of the first case, not timed.
{
  const pre = await preprocessCase(todo[0]!, prep);
  const s = pre.rois[0]!;
  const x = tf.tensor5d(s.slices, [1, s.depth, s.size, s.size, 1]);
  const out = await encoder.encode(x);
  tf.dispose([x, out.patch, out.cls]);
}

const stopProfile = await startProfile();
for (const c of todo) {
  const pre = await timed('preprocess (read, crop, normalise, slice to S)', () => preprocessCase(c, prep));
  const all = await timed('augment (variants 1..3)', () => caseVariants(pre, variants, 0, prep.rois));
  for (let v = 0; v < variants; v++) {
    for (let r = 0; r < prep.rois.length; r++) {
      const sample = all[v]![r]!;
      const [slices, valid] = await timed('tensors in', () => [
        tf.tensor5d(sample.slices, [1, sample.depth, sample.size, sample.size, 1]),
        tf.tensor2d(Float32Array.from(sample.valid), [1, sample.depth]),
      ]);
      const encoded = await timed('backbone (encode)', () => encoder.encode(slices, { valid }));
      await timed('feature cache (put)', () => source.put(c.id, prep.rois[r]!.id, v, sample, encoded));
      tf.dispose([slices, valid, encoded.patch, encoded.cls]);
    }
  }
}
const split = inclusiveMs(await stopProfile());
source.clear();

const c0 = process.cpuUsage();
const e2e = await extractFeatures(todo, encoder, { variants, progress: false, segUpsample });
const e2eCpu = process.cpuUsage(c0);
if (e2e.failed.length) throw e2e.failed[0]!.error;

const digest = createHash('sha256');
for (const c of todo) {
  for (const roi of prep.rois) {
    for (let v = 0; v < variants; v++) {
      const f = e2e.source.get(c.id, roi.id, v);
      for (const a of [f.patch, f.cls, Uint8Array.from(f.valid), f.blockMasks!]) {
        digest.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
      }
    }
  }
}
e2e.source.clear();
bb.dispose();

const n = todo.length;
const fmt = (x: number) => x.toFixed(3).padStart(8);
console.log(
  `\nfeature extraction per case: ${n} cases from ${dir}, S = ${prep.size}, ${variants} variants, ` +
    `backbone ${backboneSpec ?? 'random tiny ViT'}, ${report.backend} ${report.threads} thread(s)\n`,
);
console.log('| phase | wall s / case | CPU s / case |');
console.log('|---|---|---|');
let wall = 0;
let cpu = 0;
for (const [name, t] of phases) {
  console.log(`| ${name} | ${fmt(t.wall / n)} | ${fmt(t.cpu / n)} |`);
  wall += t.wall;
  cpu += t.cpu;
}
console.log(`| **sum** | ${fmt(wall / n)} | ${fmt(cpu / n)} |`);
const e2eCpuS = (e2eCpu.user + e2eCpu.system) / 1e6;
console.log(`| extractFeatures end to end | ${fmt(e2e.seconds / n)} | ${fmt(e2eCpuS / n)} |`);
console.log('\npreprocessing split (sampling profile, inclusive ms / case, main thread):\n');
console.log('| function | ms / case |');
console.log('|---|---|');
for (const name of [
  'readNifti',
  'gunzip',
  'reorientToCanonical',
  'nmReference',
  'maskLabelStats',
  'cropRoi',
  'normalizeRoiImage',
  'roiToSlices',
  'caseVariants',
  'encode',
  'forwardFeatures',
  'normalise',
  'put',
  'blockClassFractions',
  'deflateSync',
]) {
  console.log(`| ${name} | ${((split.get(name) ?? 0) / n).toFixed(0).padStart(6)} |`);
}
const perCaseMin = e2e.seconds / n / 60;
console.log(
  `\nprojected extraction (wall): 60 cases ${(60 * perCaseMin).toFixed(1)} min, 200 cases ${(200 * perCaseMin).toFixed(1)} min`,
);
console.log(`features sha256: ${digest.digest('hex')}`);
