/**
 * Slice-encoder throughput: DINOv2 ViT-S/14 (random weights of the real size, 22M parameters) at
 * 224 x 224, batch 8, on every engine mrn offers, side by side with PyTorch CPU in the same run.
 *
 *   npx tsx bench/encoder.ts [--iters 3] [--batch 8] [--cpu] [--skip-python]
 *
 * bench/encoder.py builds the checkpoint (Hugging Face layout), its ONNX export and PyTorch's timing;
 * each engine then runs in its own process (tfjs backends and thread pools are process-global), loads
 * the checkpoint with loadDinov2 (peak memory of the load is recorded), checks its CLS tokens against
 * PyTorch's on the same input, and times `iters` forwards after one warm-up. tfjs-cpu is skipped unless
 * --cpu is given (pure-JS kernels: minutes per batch at 224).
 */

import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend.js';
import { readSafetensors } from '../src/io/safetensors.js';
import { loadDinov2 } from '../src/layers/vit/load-dinov2.js';
import { OnnxVitEncoder } from '../src/layers/vit/onnx-encoder.js';
import { numberOption } from './tools/args.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const DIR = path.join(HERE, 'out', 'dinov2-small-random');
const argv = process.argv.slice(2);
const ITERS = numberOption('iters', 3);
const BATCH = numberOption('batch', 8);

interface Result {
  engine: string;
  seconds: number[];
  median_s: number;
  batch: number;
  maxAbsCls?: number;
  loadPeakMB?: number;
  note?: string;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function child(engine: string): Promise<Result> {
  const io = await readSafetensors(path.join(DIR, 'io.safetensors'));
  const px = io.pixel_values_nchw;
  const b = Math.min(BATCH, px.shape[0]);
  const refCls = (io.cls.data as Float32Array).subarray(0, b * 384);
  const timeIt = async (run: () => Promise<tf.Tensor>): Promise<{ seconds: number[]; maxAbsCls: number }> => {
    const warm = await run();
    const got = warm.dataSync();
    let maxAbsCls = 0;
    for (let i = 0; i < refCls.length; i++) maxAbsCls = Math.max(maxAbsCls, Math.abs(got[i] - refCls[i]));
    warm.dispose();
    const seconds: number[] = [];
    for (let i = 0; i < ITERS; i++) {
      const t0 = performance.now();
      (await run()).dispose();
      seconds.push((performance.now() - t0) / 1000);
    }
    return { seconds, maxAbsCls };
  };
  const pixels = () =>
    tf.tidy(() =>
      tf.transpose(
        tf.slice(tf.tensor4d(px.data as Float32Array, px.shape as [number, number, number, number]), 0, b),
        [0, 2, 3, 1],
      ),
    ) as tf.Tensor4D;

  if (engine === 'onnx') {
    await selectBackend({ backend: 'cpu' });
    const enc = await OnnxVitEncoder.create(path.join(DIR, 'model_224.onnx'), { threads: 2 });
    const x = pixels();
    const r = await timeIt(async () => {
      const f = await enc.forwardFeatures(x);
      f.patch.dispose();
      return f.cls;
    });
    await enc.dispose();
    return {
      engine: 'mrn OnnxVitEncoder (onnxruntime-node 1.30, 2 threads)',
      batch: b,
      median_s: median(r.seconds),
      ...r,
    };
  }
  const label: Record<string, string> = {
    wasm: 'mrn VisionTransformer, tfjs-wasm (stock, 1 thread)',
    'wasm-optimized': 'mrn VisionTransformer, tfjs-wasm + optimizeWasm (2 threads, XNNPACK BatchMatMul)',
    cpu: 'mrn VisionTransformer, tfjs-cpu (pure JS)',
  };
  if (engine === 'wasm-optimized') await selectBackend({ backend: 'wasm', optimizeWasm: true });
  else await selectBackend({ backend: engine as 'wasm' | 'cpu' });
  const x = pixels();
  const rssBefore = process.resourceUsage().maxRSS / 1024;
  const vit = await loadDinov2(DIR);
  const loadPeakMB = process.resourceUsage().maxRSS / 1024 - rssBefore;
  const r = await timeIt(async () =>
    tf.tidy(() => {
      const f = vit.forwardFeatures(x);
      return f.cls;
    }),
  );
  return { engine: label[engine], batch: b, median_s: median(r.seconds), loadPeakMB, ...r };
}

async function main(): Promise<void> {
  const childIdx = argv.indexOf('--child');
  if (childIdx >= 0) {
    const r = await child(argv[childIdx + 1]);
    console.log(`RESULT ${JSON.stringify(r)}`);
    return;
  }
  if (!argv.includes('--skip-python') || !existsSync(path.join(DIR, 'torch.json'))) {
    console.log('running bench/encoder.py (checkpoint, ONNX export, PyTorch timing) ...');
    execFileSync(
      '/usr/bin/python3',
      [path.join(HERE, 'encoder.py'), '--iters', String(ITERS), '--batch', String(BATCH)],
      {
        stdio: 'inherit',
      },
    );
  }
  const torch = JSON.parse(readFileSync(path.join(DIR, 'torch.json'), 'utf8')) as Result;
  const results: Result[] = [];
  const engines = ['onnx', 'wasm-optimized', 'wasm', ...(argv.includes('--cpu') ? ['cpu'] : [])];
  for (const engine of engines) {
    console.log(`timing ${engine} ...`);
    try {
      const out = execFileSync(
        process.execPath,
        [...process.execArgv, fileURLToPath(import.meta.url), ...argv, '--child', engine],
        {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'inherit'],
          maxBuffer: 1 << 24,
        },
      );
      const line = out.split('\n').find((l) => l.startsWith('RESULT '));
      results.push(JSON.parse(line!.slice(7)) as Result);
    } catch (error) {
      results.push({
        engine,
        seconds: [],
        median_s: NaN,
        batch: BATCH,
        note: `failed: ${(error as Error).message.split('\n')[0]}`,
      });
    }
  }
  const model = (readFileSync(path.join(DIR, 'model.safetensors')).byteLength / 1e6).toFixed(0);
  console.log(
    `\nDINOv2 ViT-S/14, 224 x 224, batch ${BATCH}, ${ITERS} timed iterations after a warm-up (median)`,
  );
  console.log(
    '| engine | s / batch | slices / s | vs PyTorch | max abs CLS diff vs PyTorch | load peak RSS (MB) |',
  );
  console.log('|---|---|---|---|---|---|');
  const row = (r: Result) => {
    const sps = r.batch / r.median_s;
    const ratio = torch.median_s / r.median_s;
    console.log(
      `| ${r.engine} | ${r.median_s.toFixed(2)} | ${sps.toFixed(2)} | ${ratio.toFixed(2)}x | ${r.maxAbsCls === undefined ? '-' : r.maxAbsCls.toExponential(1)} | ${r.loadPeakMB === undefined ? '-' : r.loadPeakMB.toFixed(0)} |` +
        (r.note ? ` ${r.note}` : ''),
    );
  };
  row(torch);
  results.forEach(row);
  if (!argv.includes('--cpu'))
    console.log(
      '| tfjs-cpu | skipped | | | | | pure-JS kernels take minutes per batch at 224 (pass --cpu to run it) |',
    );
  console.log(`(checkpoint: ${model} MB of F32 safetensors; "vs PyTorch" > 1 means faster than PyTorch)`);
}

await main();
