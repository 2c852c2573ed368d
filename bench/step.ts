/**
 * bench/step: one paper-scale training step of the MRN heads on cached ViT-S-shaped features
 * (N = 256 tokens, 384 wide; default MultiRoiNet: E = 256, the four ROIs with 8/20/10/8 slices,
 * aux maps at S = 224), on tfjs-wasm with `optimizeWasm`. Masks are given at slice resolution and
 * reduced inside. Reports the forward time, the step time (forward + backward + Adam, median of the
 * timed steps), the micro-batch size (automatic: measured step memory and the wasm heap, or given),
 * and the wasm heap size afterwards.
 *
 *   npx tsx bench/step.ts [batch=8] [segResolution=block] [microBatch=auto] [steps=2] [threads=1]
 */
import * as tf from '@tensorflow/tfjs';
import {
  DEFAULT_ROI_SPECS,
  measureTrainStepMemory,
  MultiRoiNet,
  type MrnBatch,
  resolveMicroBatchSize,
  selectBackend,
  type StepMemory,
  trainStep,
  wasmHeapStats,
} from '../src/index.js';

const batchSize = Number(process.argv[2] ?? 8);
const segResolution = (process.argv[3] ?? 'block') as 'block' | 'full';
const microArg = process.argv[4] ?? 'auto';
const steps = Number(process.argv[5] ?? 2);
const threads = Number(process.argv[6] ?? 1);
const [S, N, EIN] = [224, 256, 384];

await selectBackend({ backend: 'wasm', optimizeWasm: { threads } });
const model = new MultiRoiNet({ backboneDim: EIN, patchSize: 14, sliceSize: S, segResolution });
const labels = Array.from({ length: batchSize }, (_, i) => i % 2);
const batch: MrnBatch = { rois: {}, labels: tf.tensor1d(labels, 'int32') };
for (const roi of DEFAULT_ROI_SPECS) {
  const d = roi.slices!;
  const masks = new Int32Array(batchSize * d * S * S);
  // A nucleus-sized blob per class in every slice.
  for (let i = 0; i < batchSize * d; i++) {
    for (let k = 1; k < roi.numClasses; k++) {
      for (let y = 100 + 6 * k; y < 104 + 6 * k; y++)
        for (let x = 98; x < 104; x++) masks[i * S * S + y * S + x] = k;
    }
  }
  batch.rois[roi.id] = {
    patch: tf.randomNormal([batchSize, d, N, EIN], 0, 1, 'float32', 1),
    cls: tf.randomNormal([batchSize, d, EIN], 0, 1, 'float32', 2),
    valid: tf.ones([batchSize, d]),
    masks: tf.tensor4d(masks, [batchSize, d, S, S], 'int32'),
  };
}
const optimizer = tf.train.adam(3e-4);
const micro: { stepMemory?: StepMemory; microBatchSize?: number } =
  microArg === 'auto'
    ? { stepMemory: await measureTrainStepMemory(model, batch) }
    : { microBatchSize: Number(microArg) };
const m = resolveMicroBatchSize(batchSize, micro);
// Forward alone: one micro-batch's worth at a time would be the fair unit; time the full batch when it fits.
let t = Date.now();
tf.tidy(() => {
  const out = model.apply(batch, { training: true });
  out.logits.dataSync();
});
const forwardS = (Date.now() - t) / 1000;
const times: number[] = [];
let result;
for (let i = 0; i < steps; i++) {
  t = Date.now();
  result = trainStep(model, optimizer, batch, micro);
  times.push((Date.now() - t) / 1000);
}
times.sort((a, b) => a - b);
const heap = wasmHeapStats();
console.log(
  JSON.stringify({
    batchSize,
    segResolution,
    threads,
    microBatchSize: m,
    microBatches: result!.microBatches,
    stepMemoryMiB: micro.stepMemory
      ? {
          perPatient: +(micro.stepMemory.bytesPerSample / 2 ** 20).toFixed(1),
          fixed: +(micro.stepMemory.fixedBytes / 2 ** 20).toFixed(1),
        }
      : null,
    forwardS,
    stepS: times,
    stepOverForward: +(times[Math.floor(times.length / 2)]! / forwardS).toFixed(2),
    heapMiB: heap ? +(heap.heapBytes / 2 ** 20).toFixed(0) : null,
    total: result!.total,
  }),
);
