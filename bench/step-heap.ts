/**
 * bench/step-heap: how the wasm heap grows over training steps at paper scale (default MultiRoiNet
 * heads, DINOv2-S-shaped cached features 384 wide, N = 256 tokens, block-resolution aux loss), for a
 * batch trained whole or in micro-batches. The heap only grows (wasm memory never shrinks), so its
 * size after a step is the peak so far; tfjs's own count of tensor bytes is printed next to it.
 *
 *   npx tsx bench/step-heap.ts [--batch 8] [--micro 8,4] [--steps 4]
 *
 * Each micro-batch size runs in its own process (a fresh heap).
 */

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend.js';
import { MultiRoiNet } from '../src/layers/multi-roi-net.js';
import { randomFeaturesBatch } from './random-features-batch.js';
import { trainStep } from '../src/train/train-step.js';
import { wasmHeapStats } from '../src/wasm/heap.js';
import { optionValue, numberOption } from './tools/args.js';

const args = process.argv.slice(2);
const B = numberOption('batch', 8);
const STEPS = numberOption('steps', 4);
const DIM = 384;
const TOKENS = 256;
const gib = (bytes: number) => (bytes / 2 ** 30).toFixed(2);

async function child(micro: number): Promise<void> {
  await selectBackend({ backend: 'wasm', optimizeWasm: { threads: 1 } });
  const model = new MultiRoiNet({ backboneDim: DIM, patchSize: 14 });
  const batch = randomFeaturesBatch(model, B, TOKENS);
  const optimizer = tf.train.adam(1e-4);
  const cells: string[] = [];
  for (let s = 0; s < STEPS; s++) {
    const t0 = performance.now();
    const info = await tf.profile(() => {
      trainStep(model, optimizer, batch, { microBatchSize: micro });
    });
    const seconds = (performance.now() - t0) / 1000;
    cells.push(`${gib(wasmHeapStats()!.heapBytes)} (${gib(info.peakBytes)}; ${seconds.toFixed(1)} s)`);
  }
  console.log(`RESULT | ${B} (${Math.ceil(B / micro)} x ${micro}) | ${cells.join(' | ')} |`);
}

function main(): void {
  const micros = optionValue('micro', '8,4').split(',').map(Number);
  console.log(
    `Paper-scale heads, batch ${B}, ${DIM}-wide features, wasm optimizeWasm 1 thread: heap GiB after each step`,
  );
  console.log('(tfjs tensor-byte peak GiB; step time incl. tf.profile)');
  console.log(
    `| batch (micro-batches) | ${Array.from({ length: STEPS }, (_, s) => `step ${s + 1}`).join(' | ')} |`,
  );
  console.log(`|---|${'---|'.repeat(STEPS)}`);
  for (const micro of micros) {
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', String(micro), ...args],
      {
        encoding: 'utf8',
        maxBuffer: 1 << 24,
      },
    );
    const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
    console.log(line ? line.slice(7) : `| ${B} (micro ${micro}) | failed: exit ${r.status} |`);
  }
}

if (args[0] === '--child') await child(Number(args[1]));
else main();
