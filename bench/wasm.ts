/**
 * bench/wasm: how much faster mrn's wasm optimisations make training, side by side with PyTorch CPU.
 *
 *   npx tsx bench/wasm.ts            # full run (several minutes: the stock forward+backward is slow)
 *   npx tsx bench/wasm.ts --batch 1  # quicker
 *
 * Workloads: ViT-S/14 (mrn's DINOv2 VisionTransformer, 'dinov2-small', random weights) at 224 x 224,
 * batch 4, forward, and forward+backward through every weight; a tiny MultiRoiNet training step on
 * cached encoder features (the frozen-encoder path); and the qkv head split done with one 5-D
 * transpose vs 4-D ones.
 *
 * Each engine runs in its own process (threads are fixed once the wasm module starts):
 *   stock      tfjs-backend-wasm 4.22 as shipped (1 thread in Node, BatchMatMul loop)
 *   optimised  optimizeWasm: fast BatchMatMul, 1 thread
 *   threads    optimizeWasm: fast BatchMatMul, every logical core
 *   pytorch    bench/wasm.py: torch CPU, set_num_threads(1), the same ViT-S computation
 *
 * Why 5-D transposes are avoided (and measured here): tfjs 4.22's wasm Transpose has specialised
 * loops up to rank 4 only, beyond which it computes every element's source index generically (the
 * cpu backend's generic loop likewise slows with rank); rank-5 permutations were profiled 30-80x
 * slower than equivalent rank-4 ones on the shapes `docs/design.md` notes (this bench's qkv shape shows a
 * smaller gap: see the table). So the layers split the
 * attention heads by slicing q, k and v off the fused qkv output and transposing each as
 * [B, T, H, D] -> [B, H, T, D] (4-D), never with one [B, T, 3, H, D] -> [3, B, H, T, D] transpose
 * as PyTorch code does; the same holds for any [B, D, S, S, C] volume permutation (reshape to rank 4
 * first).
 */

import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { selectBackend } from '../src/backend.js';
import { MultiRoiNet, DEFAULT_ROI_SPECS } from '../src/layers/multi-roi-net.js';
import type { MrnBatch } from '../src/layers/types.js';
import { VisionTransformer } from '../src/layers/vit/vision-transformer.js';
import {
  accumulateGradients,
  measureStepMemory,
  pickMicroBatchSize,
} from '../src/train/grad-accumulation.js';
import { trainStep } from '../src/train/train-step.js';
import { wasmHeapStats } from '../src/wasm/heap.js';

type Mode = 'stock' | 'optimised' | 'threads';

interface ChildResult {
  mode: Mode;
  threads: number;
  seconds: Record<string, number>;
  heapGiB: number;
}

const args = process.argv.slice(2);
const argValue = (name: string, fallback: number): number => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const BATCH = argValue('--batch', 4);
const SIZE = 224;

async function time(label: string, reps: number, warmup: boolean, fn: () => Promise<void>): Promise<number> {
  if (warmup) await fn();
  let best = Infinity;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    await fn();
    best = Math.min(best, (performance.now() - t0) / 1000);
  }
  process.stderr.write(`  ${label}: ${best.toFixed(2)} s\n`);
  return best;
}

function pixels(): tf.Tensor4D {
  return tf.randomUniform([BATCH, SIZE, SIZE, 3], -2, 2, 'float32', 1) as tf.Tensor4D;
}

async function vitForward(vit: VisionTransformer, x: tf.Tensor4D): Promise<void> {
  const f = vit.forwardFeatures(x);
  await f.cls.data();
  tf.dispose(f as unknown as tf.TensorContainer);
}

async function vitForwardBackward(
  vit: VisionTransformer,
  x: tf.Tensor4D,
  vars: tf.Variable[],
): Promise<void> {
  const { value, grads } = tf.variableGrads(() => {
    const f = vit.forwardFeatures(x);
    return tf.add(tf.mean(tf.square(f.cls)), tf.mean(f.patch)) as tf.Scalar;
  }, vars);
  await value.data();
  tf.dispose([value, ...Object.values(grads)]);
}

/** A tiny MultiRoiNet on cached features: 4 ROIs of 4 slices, 16 patches of ViT-S width. */
function tinyMrn(): { model: MultiRoiNet; batch: MrnBatch } {
  const rois = DEFAULT_ROI_SPECS.map((r) => ({ ...r, slices: 4 }));
  const model = new MultiRoiNet({
    rois,
    embedDim: 64,
    heads: 4,
    sfaDepth: 1,
    sliceSize: 56,
    backboneDim: 384,
    seed: 1,
  });
  const b = 2;
  const batch: MrnBatch = { rois: {}, labels: tf.tensor1d([0, 1], 'int32') };
  rois.forEach((r, i) => {
    batch.rois[r.id] = {
      patch: tf.randomNormal([b, 4, 16, 384], 0, 1, 'float32', 10 + i) as tf.Tensor4D,
      cls: tf.randomNormal([b, 4, 384], 0, 1, 'float32', 20 + i) as tf.Tensor3D,
      valid: tf.ones([b, 4]) as tf.Tensor2D,
      masks: tf.randomUniform([b, 4, 56, 56], 0, r.numClasses, 'int32', 30 + i) as tf.Tensor4D,
    };
  });
  return { model, batch };
}

async function qkvSplit(rank: 4 | 5): Promise<void> {
  const [b, t, h, d] = [BATCH * 2, 257, 6, 64];
  const qkv = tf.randomNormal([b * t, 3 * h * d]);
  const outs = tf.tidy(() => {
    if (rank === 5) {
      return [tf.transpose(tf.reshape(qkv, [b, t, 3, h, d]), [2, 0, 3, 1, 4])];
    }
    return [0, 1, 2].map((k) =>
      tf.transpose(tf.reshape(tf.slice(qkv, [0, k * h * d], [b * t, h * d]), [b, t, h, d]), [0, 2, 1, 3]),
    );
  });
  await outs[0].data();
  tf.dispose([qkv, ...outs]);
}

async function child(mode: Mode): Promise<void> {
  const report = await selectBackend({
    backend: 'wasm',
    optimizeWasm: mode === 'stock' ? undefined : { threads: mode === 'threads' ? os.cpus().length : 1 },
  });
  process.stderr.write(`${mode}: wasm, ${report.threads} thread(s) ${report.notes.join('; ')}\n`);
  const slow = mode === 'stock';
  const seconds: Record<string, number> = {};
  const vit = new VisionTransformer({ preset: 'dinov2-small', trainableBlocks: 'all', seed: 1 });
  vit.ensureBuilt();
  const vars = vit.trainableWeights.map((w) => w.read() as tf.Variable);
  const x = pixels();
  seconds['vit-fwd'] = await time('ViT-S forward', slow ? 1 : 3, true, () => vitForward(vit, x));
  seconds['vit-fwd-bwd'] = await time('ViT-S forward+backward', slow ? 1 : 3, !slow, () =>
    vitForwardBackward(vit, x, vars),
  );
  x.dispose();
  vit.dispose();
  const { model, batch } = tinyMrn();
  const opt = tf.train.adam(1e-3);
  seconds['mrn-step'] = await time('MultiRoiNet step', 3, true, async () => {
    trainStep(model, opt, batch);
  });
  seconds['qkv-5d'] = await time('qkv split, 5-D transpose', 3, true, () => qkvSplit(5));
  seconds['qkv-4d'] = await time('qkv split, 4-D transposes', 3, true, () => qkvSplit(4));
  const result: ChildResult = {
    mode,
    threads: report.threads,
    seconds,
    heapGiB: (wasmHeapStats()?.heapBytes ?? 0) / 2 ** 30,
  };
  console.log(`RESULT ${JSON.stringify(result)}`);
}

interface AccumulationResult {
  batch: number;
  direct: string;
  microBatch: number;
  bytesPerSampleGiB: number;
  seconds: number;
  heapGiB: number;
}

/** ViT-S forward+backward at batch 8: straight (expected to exhaust the heap), or accumulated. */
async function childBatch8(how: 'direct' | 'accumulate'): Promise<void> {
  await selectBackend({ backend: 'wasm', optimizeWasm: { threads: 1 } });
  const batch = 8;
  const vit = new VisionTransformer({ preset: 'dinov2-small', trainableBlocks: 'all', seed: 1 });
  vit.ensureBuilt();
  const vars = vit.trainableWeights.map((w) => w.read() as tf.Variable);
  const x = tf.randomUniform([batch, SIZE, SIZE, 3], -2, 2, 'float32', 1) as tf.Tensor4D;
  const loss = (start: number, end: number) =>
    tf.tidy(() => {
      const f = vit.forwardFeatures(tf.slice(x, [start, 0, 0, 0], [end - start, SIZE, SIZE, 3]));
      return tf.add(tf.mean(tf.square(f.cls)), tf.mean(f.patch)) as tf.Scalar;
    });
  if (how === 'direct') {
    const t0 = performance.now();
    const { value, grads } = tf.variableGrads(() => loss(0, batch), vars);
    await value.data();
    tf.dispose([value, ...Object.values(grads)]);
    console.log(`DIRECT ok ${((performance.now() - t0) / 1000).toFixed(2)}`);
    return;
  }
  const mem = await measureStepMemory(loss, vars);
  const micro = pickMicroBatchSize({ batchSize: batch, ...mem });
  const t0 = performance.now();
  const { value, grads } = accumulateGradients(loss, batch, micro, vars);
  await value.data();
  const seconds = (performance.now() - t0) / 1000;
  tf.dispose([value, ...Object.values(grads)]);
  const result: Omit<AccumulationResult, 'direct'> = {
    batch,
    microBatch: micro,
    bytesPerSampleGiB: mem.bytesPerSample / 2 ** 30,
    seconds,
    heapGiB: (wasmHeapStats()?.heapBytes ?? 0) / 2 ** 30,
  };
  console.log(`RESULT ${JSON.stringify(result)}`);
}

function runBatch8(): AccumulationResult {
  const self = fileURLToPath(import.meta.url);
  const direct = spawnSync(process.execPath, ['--import', 'tsx', self, '--child', 'direct8'], {
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  const ok = /DIRECT ok/.exec(direct.stdout);
  const why = /(Aborted\([^)]*\)|out of memory|RangeError[^\n]*|abort[^\n]*)/i.exec(
    direct.stdout + direct.stderr,
  );
  const directText = ok ? 'ran' : `failed (exit ${direct.status}${why ? `: ${why[1].slice(0, 80)}` : ''})`;
  const acc = spawnSync(process.execPath, ['--import', 'tsx', self, '--child', 'accumulate8'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 1 << 24,
  });
  const line = acc.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  if (!line) throw new Error(`accumulation child failed (exit ${acc.status}): ${acc.stdout.slice(-2000)}`);
  return { ...(JSON.parse(line.slice(7)) as Omit<AccumulationResult, 'direct'>), direct: directText };
}

function runChild(mode: Mode): ChildResult {
  const self = fileURLToPath(import.meta.url);
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', self, '--child', mode, '--batch', String(BATCH)],
    {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      maxBuffer: 1 << 24,
    },
  );
  const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  if (!line) throw new Error(`bench child '${mode}' failed (exit ${r.status}): ${r.stdout.slice(-2000)}`);
  return JSON.parse(line.slice(7)) as ChildResult;
}

function runPython(): Record<string, number> | undefined {
  const script = fileURLToPath(new URL('./wasm.py', import.meta.url));
  const r = spawnSync('/usr/bin/python3', [script, '--batch', String(BATCH)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  if (!line) {
    process.stderr.write(`pytorch bench failed (exit ${r.status})\n`);
    return undefined;
  }
  return JSON.parse(line.slice(7)) as Record<string, number>;
}

async function main(): Promise<void> {
  const i = args.indexOf('--child');
  if (i >= 0) {
    const which = args[i + 1];
    if (which === 'direct8') return childBatch8('direct');
    if (which === 'accumulate8') return childBatch8('accumulate');
    return child(which as Mode);
  }
  process.stderr.write(
    `bench/wasm: batch ${BATCH} at ${SIZE}x${SIZE}, ${os.cpus().length} logical cores, load ${os.loadavg()[0].toFixed(1)}\n`,
  );
  const results = (['stock', 'optimised', 'threads'] as Mode[]).map(runChild);
  const torch = runPython();
  const batch8 = args.includes('--no-batch8') ? undefined : runBatch8();
  const [stock, optimised, threads] = results;
  const rows: Array<[string, string]> = [
    ['vit-fwd', `ViT-S/14 forward, ${BATCH}x224`],
    ['vit-fwd-bwd', `ViT-S/14 forward+backward, ${BATCH}x224`],
    ['mrn-step', 'tiny MultiRoiNet train step (features)'],
    ['qkv-5d', 'qkv head split, one 5-D transpose'],
    ['qkv-4d', 'qkv head split, 4-D transposes'],
  ];
  const f = (s: number | undefined) =>
    s === undefined ? '—' : s < 1 ? `${(s * 1000).toFixed(0)} ms` : `${s.toFixed(2)} s`;
  const lines = [
    `| workload | stock wasm (1 thr) | optimised (1 thr) | optimised + ${threads.threads} threads | PyTorch CPU (1 thr) | stock / best | best / PyTorch |`,
    '|---|---|---|---|---|---|---|',
  ];
  for (const [key, label] of rows) {
    const best = Math.min(optimised.seconds[key], threads.seconds[key]);
    const pt = torch?.[key];
    lines.push(
      `| ${label} | ${f(stock.seconds[key])} | ${f(optimised.seconds[key])} | ${f(threads.seconds[key])} | ${f(pt)} | ` +
        `${(stock.seconds[key] / best).toFixed(1)}x | ${pt ? `${(best / pt).toFixed(1)}x` : '—'} |`,
    );
  }
  lines.push(
    '',
    `wasm heap at the end: stock ${stock.heapGiB.toFixed(2)} GiB, optimised ${optimised.heapGiB.toFixed(2)} GiB, threads ${threads.heapGiB.toFixed(2)} GiB`,
  );
  if (batch8) {
    lines.push(
      '',
      `ViT-S/14 forward+backward at batch ${batch8.batch}, 224 px (optimised, 1 thread): in one go ${batch8.direct}; ` +
        `with gradient accumulation, micro-batches of ${batch8.microBatch} (picked from the 4 GiB heap limit, ` +
        `${batch8.bytesPerSampleGiB.toFixed(2)} GiB per sample at peak): ${batch8.seconds.toFixed(2)} s, heap ${batch8.heapGiB.toFixed(2)} GiB`,
    );
  }
  console.log(lines.join('\n'));
}

await main();
