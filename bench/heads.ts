/**
 * bench/heads: one paper-scale MRN training step on cached features, tfjs-wasm next to the PyTorch
 * twin of the heads (bench/heads.py), in one run.
 *
 *   npx tsx bench/heads.ts                       # batches 2 and 8, every engine
 *   npx tsx bench/heads.ts --batches 2 --steps 1 # quicker
 *   npx tsx bench/heads.ts --engines wasm-optimised,pytorch-1
 *
 * Workload: the default MultiRoiNet heads (E = 256, SFA depth 2, fusion transformer, aux heads with
 * r = 4, the default segResolution) on DINOv2-S-shaped cached features: N = 256 patch tokens and a
 * CLS token per slice, 384 wide, the default ROIs with 8/20/10/8 slices (all valid), random
 * [B, D, 224, 224] masks (at segResolution 'block' reduced once to [B, D, 64, 64, K] class fractions
 * before timing, as the feature cache stores them), balanced labels; the default MRN objective (CE + Dice-CE + 0.1 SupCon); Adam
 * (lr 1e-4) after clipping the gradients' global norm at 1 (`trainStep` in tfjs; the same in torch).
 * tfjs measures a step's memory first (`measureTrainStepMemory`, not timed) and `trainStep` splits the
 * batch into micro-batches that fit the wasm heap, as the trainer does (exact gradients, SupCon over
 * the whole batch); the table says into how many. The twin always runs the whole batch.
 * Every engine starts from the same weights: the tfjs model's export (`saveMultiRoiNetSafetensors`),
 * which the twin loads.
 *
 * Engines, each in its own process (the wasm module fixes its kernels and threads at start):
 *   wasm-stock      tfjs-backend-wasm 4.22 as shipped (1 thread in Node)
 *   wasm-optimised  selectBackend({ optimizeWasm: { threads: 1 } }): mrn's kernel fixes, 1 thread
 *   pytorch-1/-2    bench/heads.py bench: torch CPU, set_num_threads(1 or 2)
 *
 * Per engine and batch: model forward (outputs only), forward (outputs + objective, no gradient; the
 * denominator of step / forward) and step (forward + backward + clip + Adam), one warm-up then the median of --steps (default 2) timed runs; the process's peak
 * RSS; for wasm the heap size after the run (it only grows, so it is the peak). A child that dies
 * (e.g. the wasm heap aborting at 4 GiB) is reported as such. Timings are wall clock on a machine
 * shared with other work: compare within one run.
 */

import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend.js';
import { loadMultiRoiNetSafetensors, saveMultiRoiNetSafetensors } from '../src/io/model-safetensors.js';
import { MultiRoiNet } from '../src/layers/multi-roi-net.js';
import type { MrnBatch } from '../src/layers/types.js';
import { blockTargets } from '../src/losses/block-targets.js';
import { mrnObjective } from '../src/losses/objective.js';
import { measureTrainStepMemory, trainStep } from '../src/train/train-step.js';
import { wasmHeapStats } from '../src/wasm/heap.js';
import { optionValue, numberOption } from './tools/args.js';

const ENGINES = ['wasm-stock', 'wasm-optimised', 'pytorch-1', 'pytorch-2'] as const;
type Engine = (typeof ENGINES)[number];

/** The paper-scale configuration: default heads on DINOv2-S features (384 wide, patch 14, S = 224). */
const CONFIG = { backboneDim: 384, patchSize: 14 };
const TOKENS = 256;

interface Result {
  engine: string;
  batch: number;
  threads?: number;
  model_s?: number;
  forward_s?: number;
  step_s?: number;
  micro_batches?: number;
  peak_rss_bytes?: number;
  wasm_heap_bytes?: number;
  seg_resolution?: string;
  failed?: string;
}

const args = process.argv.slice(2);
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * The masks as the feature cache hands them to a step: at `segResolution: 'block'` reduced once to
 * per-block class fractions `[B, D, T, T, K]` (T = 16 tokens x r), else the slice class ids.
 */
function cachedMasks(ids: tf.Tensor4D, model: MultiRoiNet, classes: number): tf.Tensor4D | tf.Tensor5D {
  const c = model.config;
  if (c.segResolution !== 'block') return ids;
  const reduced = blockTargets(ids, Math.round(Math.sqrt(TOKENS)) * c.segUpsample, classes);
  ids.dispose();
  return reduced;
}

/** Random cached features, masks and labels for the model's ROIs (deterministic seeds). */
function paperBatch(model: MultiRoiNet, b: number): MrnBatch {
  const c = model.config;
  const rois: MrnBatch['rois'] = {};
  c.rois.forEach((roi, i) => {
    const d = roi.slices ?? c.maxSlices;
    rois[roi.id] = {
      patch: tf.randomNormal([b, d, TOKENS, c.backboneDim], 0, 1, 'float32', 10 + i) as tf.Tensor4D,
      cls: tf.randomNormal([b, d, c.backboneDim], 0, 1, 'float32', 20 + i) as tf.Tensor3D,
      valid: tf.ones([b, d]) as tf.Tensor2D,
      masks: cachedMasks(
        tf.randomUniformInt([b, d, c.sliceSize, c.sliceSize], 0, roi.numClasses, 30 + i) as tf.Tensor4D,
        model,
        roi.numClasses,
      ),
    };
  });
  const labels = tf.tensor1d(
    Array.from({ length: b }, (_, i) => i % 2),
    'int32',
  );
  return { rois, labels };
}

async function timed(repeats: number, fn: () => Promise<void> | void): Promise<number> {
  await fn(); // warm-up
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    await fn();
    times.push((performance.now() - t0) / 1000);
  }
  return median(times);
}

/** One tfjs engine, one batch size: prints `RESULT {json}`. */
async function tfjsChild(engine: Engine, weights: string, b: number, steps: number): Promise<void> {
  const report = await selectBackend({
    backend: 'wasm',
    optimizeWasm: engine === 'wasm-optimised' ? { threads: 1 } : undefined,
  });
  const model = new MultiRoiNet(CONFIG);
  await loadMultiRoiNetSafetensors(model, weights);
  const batch = paperBatch(model, b);
  const model_s = await timed(steps, async () => {
    const out = model.apply(batch, { training: true });
    await out.logits.data();
    tf.dispose(out as unknown as tf.TensorContainer);
  });
  const forward_s = await timed(steps, async () => {
    const total = tf.tidy(() => mrnObjective(model.apply(batch, { training: true }), batch).total);
    await total.data();
    total.dispose();
  });
  // As the trainer does: measure a step's memory at 1 and 2 samples, and let trainStep split the
  // batch into micro-batches that fit the wasm heap (exact gradients by gradient caching).
  const stepMemory = await measureTrainStepMemory(model, batch);
  const optimizer = tf.train.adam(1e-4);
  let microBatches = 0;
  const step_s = await timed(steps, () => {
    microBatches = trainStep(model, optimizer, batch, { stepMemory }).microBatches;
  });
  const result: Result = {
    engine,
    batch: b,
    threads: report.threads,
    model_s,
    forward_s,
    step_s,
    micro_batches: microBatches,
    peak_rss_bytes: process.resourceUsage().maxRSS * 1024,
    wasm_heap_bytes: wasmHeapStats()?.heapBytes,
    seg_resolution: model.config.segResolution,
  };
  console.log(`RESULT ${JSON.stringify(result)}`);
}

/** Why a child died, from its output: the wasm abort, an out-of-memory, or the last error line. */
function failure(status: number | null, signal: string | null, out: string): string {
  const why =
    /(RuntimeError: [^\n]*|Cannot enlarge memory[^\n]*|out of memory|RangeError[^\n]*)/i.exec(out)?.[1] ??
    out
      .split('\n')
      .filter((l) => /error/i.test(l))
      .pop()
      ?.trim();
  return `aborts (exit ${status ?? signal}${why ? `: ${why.slice(0, 90)}` : ''})`;
}

function runEngine(engine: Engine, weights: string, b: number, steps: number): Result {
  const self = fileURLToPath(import.meta.url);
  const python = engine.startsWith('pytorch');
  const r = python
    ? spawnSync(
        '/usr/bin/python3',
        [
          fileURLToPath(new URL('./heads.py', import.meta.url)),
          'bench',
          weights,
          String(b),
          engine.slice(-1),
          String(steps),
        ],
        { encoding: 'utf8', maxBuffer: 1 << 24 },
      )
    : spawnSync(
        process.execPath,
        ['--import', 'tsx', self, '--child', engine, weights, String(b), String(steps)],
        { encoding: 'utf8', maxBuffer: 1 << 24 },
      );
  const line = r.stdout
    .split('\n')
    .map((l) => l.replace(/^RESULT /, ''))
    .find((l) => l.startsWith('{'));
  if (r.status !== 0 || !line) {
    const log = path.join(os.tmpdir(), `mrn-bench-heads-${engine}-${b}.log`);
    writeFileSync(log, `${r.stdout}\n${r.stderr}`);
    process.stderr.write(`  child failed; its output: ${log}\n`);
    return { engine, batch: b, failed: failure(r.status, r.signal, `${r.stdout}\n${r.stderr}`) };
  }
  const parsed = JSON.parse(line) as Result;
  return { ...parsed, engine };
}

const gib = (bytes?: number) => (bytes === undefined ? 'n/a' : `${(bytes / 2 ** 30).toFixed(2)} GiB`);
const sec = (s?: number) => (s === undefined ? '' : `${s.toFixed(2)} s`);

async function main(): Promise<void> {
  const batches = optionValue('batches', '2,8').split(',').map(Number);
  const steps = numberOption('steps', 2);
  const engines = optionValue('engines', ENGINES.join(',')).split(',') as Engine[];
  for (const e of engines) if (!ENGINES.includes(e)) throw new Error(`unknown engine '${e}'`);
  await selectBackend({ backend: 'cpu' });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mrn-bench-heads-'));
  const weights = path.join(dir, 'heads.safetensors');
  const model = new MultiRoiNet(CONFIG);
  await saveMultiRoiNetSafetensors(model, weights);
  const c = model.config;
  const params = model.countTrainableParams();
  model.dispose();
  const results: Result[] = [];
  for (const b of batches) {
    for (const engine of engines) {
      process.stderr.write(`bench/heads: ${engine}, batch ${b} ...\n`);
      const r = runEngine(engine, weights, b, steps);
      process.stderr.write(`  ${JSON.stringify(r)}\n`);
      results.push(r);
    }
  }
  const load = os.loadavg()[0]!.toFixed(1);
  console.log(
    `MultiRoiNet heads, paper scale: ${params} trainable params, E=${c.embedDim}, ROIs ` +
      `${c.rois.map((r) => `${r.id}:${r.slices}`).join(' ')}, N=${TOKENS} x ${c.backboneDim}, S=${c.sliceSize}, ` +
      `segResolution ${results.find((r) => r.seg_resolution)?.seg_resolution ?? '?'}; ` +
      `${os.cpus().length} CPUs (${os.cpus()[0]?.model.trim()}), 1-min load ${load} at the end; median of ${steps} after 1 warm-up`,
  );
  console.log(
    '| engine | batch (micro-batches) | model forward | forward + objective | step (fwd+bwd+Adam) | step / forward | step / PyTorch 1 thread | peak RSS | wasm heap |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    const ref = results.find((x) => x.engine === 'pytorch-1' && x.batch === r.batch && x.step_s);
    if (r.failed) {
      console.log(`| ${r.engine} | ${r.batch} | ${r.failed} | | | | | | |`);
      continue;
    }
    const ratio = r.step_s! / r.forward_s!;
    const vsTorch = ref ? `${(r.step_s! / ref.step_s!).toFixed(1)}x` : 'n/a';
    console.log(
      `| ${r.engine} | ${r.batch}${r.micro_batches && r.micro_batches > 1 ? ` (${r.micro_batches})` : ''} | ${sec(r.model_s)} | ${sec(r.forward_s)} | ${sec(r.step_s)} | ${ratio.toFixed(1)}x | ${vsTorch} | ` +
        `${gib(r.peak_rss_bytes)} | ${r.engine.startsWith('wasm') ? gib(r.wasm_heap_bytes) : 'n/a'} |`,
    );
  }
}

if (args[0] === '--child') {
  await tfjsChild(args[1] as Engine, args[2]!, Number(args[3]), Number(args[4]));
} else {
  await main();
}
