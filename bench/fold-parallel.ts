/**
 * bench/fold-parallel: why `mrn train` trains folds side by side (src/train/fold-workers.ts). Times a
 * training step of `mrn train`'s default heads (MultiRoiNet defaults, batch 8, unsplit, the random
 * tiny ViT's 64-wide features, N = 256 tokens, block-resolution aux loss) on tfjs-wasm with
 * `optimizeWasm`, in three layouts, in one run:
 *
 *   one process, T threads        the whole machine on one fold (T = all cores)
 *   one process, 1 thread         one fold, one core
 *   P processes, 1 thread each    P folds side by side (P = all cores): the parallel-folds layout
 *
 *   npx tsx bench/fold-parallel.ts [--steps 3] [--dim 64]
 *
 * Each process times --steps steps after one warm-up. "per step, together" is the wall time of one
 * step divided by the processes that step at the same time: the throughput that decides how long a
 * cross-validation takes. Wall clock on a shared machine: compare within one run.
 */

import { spawn } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend.js';
import { MultiRoiNet } from '../src/layers/multi-roi-net.js';
import { randomFeaturesBatch } from './random-features-batch.js';
import { trainStep } from '../src/train/train-step.js';
import { numberOption } from './tools/args.js';

const args = process.argv.slice(2);
const STEPS = numberOption('steps', 3);
const DIM = numberOption('dim', 64);
const B = 8;
const TOKENS = 256;

interface ChildResult {
  threads: number;
  wallPerStep: number;
  cpuPerStep: number;
}

async function child(threads: number): Promise<void> {
  const report = await selectBackend({ backend: 'wasm', optimizeWasm: { threads } });
  const model = new MultiRoiNet({ backboneDim: DIM, patchSize: 14 });
  const batch = randomFeaturesBatch(model, B, TOKENS);
  const optimizer = tf.train.adam(1e-4);
  trainStep(model, optimizer, batch, { microBatchSize: B });
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  for (let s = 0; s < STEPS; s++) trainStep(model, optimizer, batch, { microBatchSize: B });
  const cpu = process.cpuUsage(cpu0);
  const result: ChildResult = {
    threads: report.threads,
    wallPerStep: (performance.now() - t0) / 1000 / STEPS,
    cpuPerStep: (cpu.user + cpu.system) / 1e6 / STEPS,
  };
  console.log(`RESULT ${JSON.stringify(result)}`);
}

function runChild(threads: number): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [
      '--import',
      'tsx',
      fileURLToPath(import.meta.url),
      '--child',
      String(threads),
      ...args,
    ]);
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', () => {});
    p.on('exit', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('RESULT '));
      if (code !== 0 || !line) reject(new Error(`child (${threads} threads) failed: exit ${code}`));
      else resolve(JSON.parse(line.slice(7)) as ChildResult);
    });
  });
}

async function main(): Promise<void> {
  const cores = os.cpus().length;
  const rows: string[] = [];
  const row = (layout: string, results: ChildResult[]) => {
    const wall = Math.max(...results.map((r) => r.wallPerStep));
    const cpu = results.reduce((s, r) => s + r.cpuPerStep, 0) / results.length;
    rows.push(
      `| ${layout} | ${results.map((r) => r.threads).join(' + ')} | ${wall.toFixed(2)} s | ${cpu.toFixed(2)} s | ${(wall / results.length).toFixed(2)} s |`,
    );
  };
  row(`one process, ${cores} threads`, [await runChild(cores)]);
  row('one process, 1 thread', [await runChild(1)]);
  row(
    `${cores} processes, 1 thread each`,
    await Promise.all(Array.from({ length: cores }, () => runChild(1))),
  );
  console.log(
    `mrn train's default heads, batch 8, ${DIM}-wide features, tfjs-wasm optimizeWasm; ${cores} CPUs (${os.cpus()[0]?.model}), ${STEPS} steps after a warm-up`,
  );
  console.log('| layout | threads | wall per step | CPU per step (each) | per step, together |');
  console.log('|---|---|---|---|---|');
  for (const r of rows) console.log(r);
}

if (args[0] === '--child') await child(Number(args[1]));
else await main();
