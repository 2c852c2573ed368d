/**
 * bench/step-profile: where a paper-scale MultiRoiNet training step spends its time on tfjs-wasm
 * (1 thread, `optimizeWasm`), with mrn's backward kernels (src/wasm/*) and the fused LayerNorm gradient
 * (src/layers/blocks.ts) off ("before") and on ("after"), each in its own child process (the wasm heap
 * never shrinks, so its peak is per process), one after the other in the same run. Times are the
 * process's CPU time (robust on a shared machine; the backend runs one thread) with wall time beside.
 *
 *   npx tsx bench/step-profile.ts [batch=2] [repeats=3] [--aux=block|full] [--micro=N] [--no-profile] [--forward-only]
 *   npx tsx bench/step-profile.ts 2 1 --only=after --table     (one variant, in this process)
 *   node --cpu-prof --import tsx bench/step-profile.ts 2 1 --only=after   (V8 profile of the JS side)
 *
 * Setup: random cached DINOv2-S-shaped features (N = 256 patch tokens of width 384 per slice, CLS 384),
 * default MultiRoiNet heads (E = 256, 4 heads, SFA depth 2, fusion depth 1, P = 128) and the default ROIs
 * (8/20/10/8 slices, 2/5/4/2 classes), S = 224, masks with a square blob per class. `--aux=block`
 * (default) trains the aux head at its native 64 x 64 resolution against per-block class fractions
 * reduced once at set-up (as the feature cache does); `--aux=full` against 224 x 224 masks (bilinear
 * upsampling, the old default). `--micro=N` splits the batch into micro-batches of N (gradient caching).
 *
 * Prints: forward time, training-step time (trainStep: forward + backward + clipping + Adam), their
 * ratio, the wasm heap size after the runs (= its peak) and leaked tensors for each variant, then a
 * per-kernel tf.profile table of one step.
 */
import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  createRng,
  DEFAULT_ROI_SPECS,
  MultiRoiNet,
  optimizeWasmBackend,
  setFastBlockGradients,
  trainStep,
  wasmHeapStats,
  type MrnBatch,
} from '../src/index.js';
import { blockTargets } from '../src/losses/block-targets.js';

const positional = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const flags = new Map(
  process.argv
    .slice(2)
    .filter((a) => a.startsWith('--'))
    .map((a) => {
      const [k, v] = a.slice(2).split('=');
      return [k!, v ?? 'true'] as const;
    }),
);
const batchSize = Number(positional[0] ?? 2);
const repeats = Number(positional[1] ?? 3);
const aux = flags.get('aux') ?? 'block';
if (aux !== 'block' && aux !== 'full') throw new Error(`--aux must be block or full, got ${aux}`);
const micro = flags.has('micro') ? Number(flags.get('micro')) : undefined;
const only = flags.get('only');
const profile = !flags.has('no-profile');
const forwardOnly = flags.has('forward-only');

const N = 256;
const WIDTH = 384;
const SLICE = 224;
/** Side of the aux head's native logit maps: 16 x 16 tokens x 4 x 4 logits each. */
const BLOCKS = 64;

interface Row {
  variant: string;
  forwardMs: number;
  forwardCpuMs: number;
  stepMs: number;
  stepCpuMs: number;
  heapMiB: number;
  tensorsLeaked: number;
  kernels?: Record<string, { calls: number; ms: number }>;
  launches?: number;
}

const VARIANTS = { before: 'before (BatchMatMul only)', after: 'after (+ backward kernels, fast blocks)' };

if (!only) {
  // Each variant in its own process: the wasm heap never shrinks, so its peak is per process.
  const rows: Row[] = [];
  for (const v of ['before', 'after'] as const) {
    const args = process.argv.slice(2).concat(`--only=${v}`);
    const child = spawnSync(
      process.execPath,
      [...process.execArgv, fileURLToPath(import.meta.url), ...args],
      {
        encoding: 'utf8',
        maxBuffer: 1 << 26,
      },
    );
    if (child.status !== 0) throw new Error(`bench/step-profile --only=${v} failed:\n${child.stderr}`);
    const line = child.stdout.split('\n').find((l) => l.startsWith('RESULT '));
    if (!line) throw new Error(`bench/step-profile --only=${v} printed no result:\n${child.stdout}`);
    rows.push(JSON.parse(line.slice(7)) as Row);
  }
  printTables(rows);
  process.exit(0);
}

function printTables(rows: Row[]): void {
  console.log(
    `MultiRoiNet step, cached ViT-S features (N=${N}, width ${WIDTH}), default heads and ROIs (8/20/10/8 slices), ` +
      `batch ${batchSize}${micro ? ` in micro-batches of ${micro}` : ''}, aux loss at ${aux === 'block' ? `block resolution (${BLOCKS} x ${BLOCKS}, soft targets)` : `full resolution (${SLICE} x ${SLICE})`}, ` +
      `tfjs-wasm 1 thread, best of ${repeats}; CPU time of the process ` +
      `(wall time in brackets; the machine is shared)`,
  );
  console.log('| variant | forward | step (fwd+bwd+Adam) | step / forward | wasm heap | tensors leaked |');
  console.log('|---|---|---|---|---|---|');
  for (const r of rows) {
    const step = forwardOnly
      ? '-'
      : `${(r.stepCpuMs / 1000).toFixed(2)} s (${(r.stepMs / 1000).toFixed(2)} s)`;
    const ratio = forwardOnly ? '-' : `${(r.stepCpuMs / r.forwardCpuMs).toFixed(2)}x`;
    console.log(
      `| ${r.variant} | ${(r.forwardCpuMs / 1000).toFixed(3)} s (${(r.forwardMs / 1000).toFixed(3)} s) | ${step} | ` +
        `${ratio} | ${r.heapMiB.toFixed(0)} MiB | ${r.tensorsLeaked} |`,
    );
  }
  if (rows.length === 2 && !forwardOnly) {
    console.log(
      `step before / after: ${(rows[0]!.stepCpuMs / rows[1]!.stepCpuMs).toFixed(2)}x; ` +
        `forward before / after: ${(rows[0]!.forwardCpuMs / rows[1]!.forwardCpuMs).toFixed(2)}x`,
    );
  }
  const profiled = rows.filter((r) => r.kernels);
  if (profiled.length === 0) return;
  const total = (n: string) => Math.max(...profiled.map((r) => r.kernels![n]?.ms ?? 0));
  const names = [...new Set(profiled.flatMap((r) => Object.keys(r.kernels!)))].sort(
    (x, y) => total(y) - total(x),
  );
  console.log('\nOne training step under tf.profile (kernel wall time; profiling adds overhead per launch):');
  for (const r of profiled) {
    const ms = Object.values(r.kernels!).reduce((t, k) => t + k.ms, 0);
    console.log(`- ${r.variant}: ${r.launches} kernel launches, ${ms.toFixed(0)} ms in kernels`);
  }
  console.log(`| kernel | ${profiled.map((r) => `${r.variant}: calls | ms`).join(' | ')} |`);
  console.log(`|---|${profiled.map(() => '---|---').join('|')}|`);
  for (const n of names.slice(0, 20)) {
    const cells = profiled.map((r) => {
      const e = r.kernels![n];
      return e ? `${e.calls} | ${e.ms.toFixed(0)}` : '- | -';
    });
    console.log(`| ${n} | ${cells.join(' | ')} |`);
  }
}

const on = only === 'after';
const report = await optimizeWasmBackend({ threads: 1, backward: on });
setFastBlockGradients(on);
console.error(
  `backend wasm, ${report.threads} thread(s), BatchMatMul ${report.batchMatMul ? 'XNNPACK' : 'stock'}, ` +
    `backward kernels ${JSON.stringify(report.backward)}, fast block gradients ${on}` +
    (report.notes.length ? ` (${report.notes.join('; ')})` : ''),
);

function makeBatch(b: number, seed: number): MrnBatch {
  const rng = createRng(seed);
  const rois: MrnBatch['rois'] = {};
  for (const roi of DEFAULT_ROI_SPECS) {
    const d = roi.slices!;
    const normal = (n: number) => Float32Array.from({ length: n }, () => rng.normal(0, 1));
    const valid = Float32Array.from({ length: b * d }, (_, i) => (i % d < d - 1 ? 1 : 0)); // one padding slice
    // Blobs of each class on a background, so block fractions are mixed only at their edges.
    const ids = new Int32Array(b * d * SLICE * SLICE);
    for (let m = 0; m < b * d; m++) {
      for (let c = 1; c < roi.numClasses; c++) {
        const cy = rng.int(40, SLICE - 40);
        const cx = rng.int(40, SLICE - 40);
        for (let y = cy - 12; y < cy + 12; y++) {
          for (let x = cx - 12; x < cx + 12; x++) ids[(m * SLICE + y) * SLICE + x] = c;
        }
      }
    }
    const slices = tf.tensor4d(ids, [b, d, SLICE, SLICE], 'int32');
    // As the feature cache does: block-resolution targets are reduced once, not every step.
    const masks = aux === 'block' ? blockTargets(slices, BLOCKS, roi.numClasses) : slices;
    if (masks !== slices) slices.dispose();
    rois[roi.id] = {
      patch: tf.tensor4d(normal(b * d * N * WIDTH), [b, d, N, WIDTH]),
      cls: tf.tensor3d(normal(b * d * WIDTH), [b, d, WIDTH]),
      valid: tf.tensor2d(valid, [b, d]),
      masks,
    };
  }
  return {
    rois,
    labels: tf.tensor1d(
      Array.from({ length: b }, (_, i) => i % 2),
      'int32',
    ),
  };
}

const model = new MultiRoiNet({
  backboneDim: WIDTH,
  patchSize: 14,
  sliceSize: SLICE,
  segResolution: aux,
  seed: 1,
});
const batch = makeBatch(batchSize, 7);
const optimizer = tf.train.adam(1e-4);

function forward(): void {
  const out = model.apply(batch, { training: true });
  out.logits.dataSync();
  tf.dispose([out.logits, out.patientEmbedding, out.roiTokens, out.projections, out.roiAttention ?? []]);
  tf.dispose([
    ...Object.values(out.segLogits),
    ...Object.values(out.sliceAttention),
    ...Object.values(out.patchAttention),
  ]);
}

function step(): void {
  trainStep(model, optimizer, batch, micro ? { microBatchSize: micro } : {});
}

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** Best wall and best CPU time of `n` runs. */
function best(f: () => void, n: number): [number, number] {
  let wall = Infinity;
  let cpu = Infinity;
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const c0 = cpuMs();
    f();
    cpu = Math.min(cpu, cpuMs() - c0);
    wall = Math.min(wall, performance.now() - t0);
  }
  return [wall, cpu];
}

forward(); // warm-up (kernel set-up, XNNPACK operator caches)
if (!forwardOnly) step();
const tensors = tf.memory().numTensors;
const [forwardMs, forwardCpuMs] = best(forward, repeats);
const [stepMs, stepCpuMs] = forwardOnly ? [NaN, NaN] : best(step, repeats);
const row: Row = {
  variant: VARIANTS[on ? 'after' : 'before'],
  forwardMs,
  forwardCpuMs,
  stepMs,
  stepCpuMs,
  heapMiB: (wasmHeapStats()?.heapBytes ?? 0) / 2 ** 20,
  tensorsLeaked: tf.memory().numTensors - tensors,
};
if (profile && !forwardOnly) {
  const info = await tf.profile(() => step());
  const kernels: Record<string, { calls: number; ms: number }> = {};
  for (const k of info.kernels) {
    const e = (kernels[k.name] ??= { calls: 0, ms: 0 });
    e.calls++;
    e.ms += typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
  }
  row.kernels = kernels;
  row.launches = info.kernels.length;
}
console.log(`RESULT ${JSON.stringify(row)}`);
if (flags.has('table')) printTables([row]);
