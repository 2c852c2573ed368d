/**
 * Gradient accumulation over micro-batches, so batch sizes whose forward+backward does not fit the
 * wasm backend's 4 GiB heap (ViT-S at 224 px, batch 8) still train: the batch is cut into
 * micro-batches, each one's gradients are computed and freed before the next, and their weighted sum
 * equals the full batch's gradient for any loss that is a mean over samples.
 */

import * as tf from '@tensorflow/tfjs';
import { MrnError } from '../errors.js';
import { WASM_HEAP_LIMIT_BYTES, wasmHeapStats } from '../wasm/heap.js';
import { useEarlyBackwardRelease } from './backward-memory.js';

/**
 * The mean loss of samples `[start, end)` of the batch. Build the micro-batch inside (e.g. by
 * slicing the batch tensors) so only its activations live while its gradients are computed.
 */
export type MicroBatchLoss = (start: number, end: number) => tf.Scalar;

/** The result of {@link accumulateGradients}: same shape as `tf.variableGrads`'s. */
export interface AccumulatedGradients {
  /** The batch mean loss: micro-batch means weighted by their sizes. */
  value: tf.Scalar;
  /** Gradient of `value` per trainable variable name. */
  grads: tf.NamedTensorMap;
}

function checkSizes(batchSize: number, microBatchSize: number): void {
  for (const [name, v] of [
    ['batchSize', batchSize],
    ['microBatchSize', microBatchSize],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) {
      throw new MrnError('E_INVALID_ARGUMENT', `${name} must be a positive integer; got ${v}`, {
        details: { [name]: v },
      });
    }
  }
}

/**
 * Computes the gradient of a batch's mean loss micro-batch by micro-batch. Micro-batch `j` covering
 * `n_j` of `N` samples contributes `(n_j / N) * grad(loss_j)`, which sums to the full batch's
 * gradient when the loss is a per-sample mean (cross-entropy, per-sample Dice). Losses that couple
 * the samples of a batch (supervised contrastive, batch statistics) are not decomposable this way:
 * micro-batching changes them (each micro-batch only sees its own positives and negatives).
 *
 * Only one micro-batch's activations are alive at a time; the returned tensors are the caller's to
 * dispose (or hand to `optimizer.applyGradients`, then dispose).
 *
 * @param loss the mean loss of a slice of the batch.
 * @param batchSize samples in the batch.
 * @param microBatchSize samples per micro-batch (the last may be smaller); e.g. from {@link pickMicroBatchSize}.
 * @param varList variables to differentiate; default every trainable variable.
 */
export function accumulateGradients(
  loss: MicroBatchLoss,
  batchSize: number,
  microBatchSize: number,
  varList?: tf.Variable[],
): AccumulatedGradients {
  checkSizes(batchSize, microBatchSize);
  useEarlyBackwardRelease();
  let total: tf.Scalar | undefined;
  let grads: tf.NamedTensorMap | undefined;
  for (let start = 0; start < batchSize; start += microBatchSize) {
    const end = Math.min(batchSize, start + microBatchSize);
    const weight = (end - start) / batchSize;
    const step = tf.variableGrads(() => loss(start, end), varList);
    const next = tf.tidy(() => {
      const value = step.value.mul(weight) as tf.Scalar;
      const scaled: tf.NamedTensorMap = {};
      for (const [name, g] of Object.entries(step.grads)) {
        const s = g.mul(weight);
        scaled[name] = grads?.[name] ? grads[name].add(s) : s;
      }
      return { value: total ? total.add(value) : value, grads: scaled };
    });
    tf.dispose([step.value, ...Object.values(step.grads)]);
    if (total) total.dispose();
    if (grads) tf.dispose(Object.values(grads));
    total = next.value as tf.Scalar;
    grads = next.grads;
  }
  return { value: total as tf.Scalar, grads: grads as tf.NamedTensorMap };
}

/**
 * One optimiser step on a batch, accumulating gradients over micro-batches. Returns the batch mean
 * loss as a number; leaves no tensors behind.
 */
export function trainStepAccumulated(
  optimizer: tf.Optimizer,
  loss: MicroBatchLoss,
  batchSize: number,
  microBatchSize: number,
  varList?: tf.Variable[],
): number {
  const { value, grads } = accumulateGradients(loss, batchSize, microBatchSize, varList);
  optimizer.applyGradients(grads);
  const result = value.dataSync()[0];
  tf.dispose([value, ...Object.values(grads)]);
  return result;
}

/** Options of {@link pickMicroBatchSize}. */
export interface MicroBatchSizeOptions {
  /** Samples in the full batch (the micro-batch is never larger). */
  batchSize: number;
  /** Peak bytes one more sample adds to a forward+backward (e.g. from {@link measureStepMemory}). */
  bytesPerSample: number;
  /** Peak bytes a step needs regardless of batch size (weights, optimiser state, gradients). Default 0. */
  fixedBytes?: number;
  /**
   * Bytes available. Default: the wasm heap limit (4 GiB) when the active backend is wasm, minus what
   * live tensors already hold; unlimited on other backends (so the full batch is returned).
   */
  availableBytes?: number;
  /**
   * Fraction of the available bytes to plan for, leaving room for allocator fragmentation (the wasm
   * heap never shrinks and reuses freed blocks imperfectly). Default 0.6.
   */
  safety?: number;
}

/**
 * The largest micro-batch size whose forward+backward fits the memory available (by default the
 * wasm backend's 4 GiB heap): `floor((available * safety - fixedBytes) / bytesPerSample)`, clamped to
 * `[1, batchSize]`. Throws `E_MEMORY` when even one sample does not fit.
 */
export function pickMicroBatchSize(options: MicroBatchSizeOptions): number {
  const { batchSize, bytesPerSample } = options;
  checkSizes(batchSize, 1);
  const fixedBytes = options.fixedBytes ?? 0;
  const safety = options.safety ?? 0.6;
  if (!(bytesPerSample > 0) || !(fixedBytes >= 0) || !(safety > 0 && safety <= 1)) {
    throw new MrnError(
      'E_INVALID_ARGUMENT',
      `pickMicroBatchSize needs bytesPerSample > 0, fixedBytes >= 0 and 0 < safety <= 1; got ${bytesPerSample}, ${fixedBytes}, ${safety}`,
      { details: { bytesPerSample, fixedBytes, safety } },
    );
  }
  let available = options.availableBytes;
  if (available === undefined) {
    if (tf.getBackend() !== 'wasm') return batchSize;
    const heap = wasmHeapStats();
    available = (heap?.limitBytes ?? WASM_HEAP_LIMIT_BYTES) - (heap?.tensorBytes ?? 0);
  }
  const fits = Math.floor((available * safety - fixedBytes) / bytesPerSample);
  if (fits < 1) {
    throw new MrnError(
      'E_MEMORY',
      `one sample needs ${(fixedBytes + bytesPerSample) / 2 ** 20} MiB at peak but only ` +
        `${(available * safety) / 2 ** 20} MiB can be planned for (safety ${safety}); use a smaller input or model`,
      { details: { bytesPerSample, fixedBytes, available, safety } },
    );
  }
  return Math.min(batchSize, fits);
}

/** Peak memory of a training step, as {@link measureStepMemory} measures it. */
export interface StepMemory {
  /** Peak bytes one more sample adds. */
  bytesPerSample: number;
  /** Peak bytes independent of the micro-batch size. */
  fixedBytes: number;
}

/**
 * Measures the peak tensor memory of a forward+backward at micro-batch sizes 1 and 2 (with
 * `tf.profile`) and splits it into a per-sample and a fixed part, for {@link pickMicroBatchSize}.
 * Both parts are above the tensors already alive (weights, the batch), which `pickMicroBatchSize`
 * subtracts from the heap itself. Runs two small steps; applies no update.
 *
 * @param batchSize samples `loss` can take; with 1, only the one-sample step is measured and all of
 *   it counts per sample (`fixedBytes` 0, an overestimate). Default 2.
 */
export async function measureStepMemory(
  loss: MicroBatchLoss,
  varList?: tf.Variable[],
  batchSize = 2,
): Promise<StepMemory> {
  useEarlyBackwardRelease();
  // tf.profile's peak counts every live tensor; counting them here too would count them twice.
  const live = tf.memory().numBytes;
  const peakAt = async (n: number): Promise<number> => {
    const info = await tf.profile(() => {
      const { value, grads } = tf.variableGrads(() => loss(0, n), varList);
      tf.dispose([value, ...Object.values(grads)]);
    });
    return Math.max(info.peakBytes - live, 1);
  };
  const one = await peakAt(1);
  if (batchSize < 2) return { bytesPerSample: one, fixedBytes: 0 };
  return splitStepMemory(one, await peakAt(2));
}

/**
 * Splits the peaks of a one- and a two-sample step into per-sample and fixed bytes. Peaks are not
 * exactly linear (the allocator's order varies): the per-sample part is at least 1 byte and the
 * fixed part never negative, so a superlinear pair counts wholly per sample (the cautious side).
 */
export function splitStepMemory(oneSample: number, twoSamples: number): StepMemory {
  const bytesPerSample = Math.max(twoSamples - oneSample, 1);
  return { bytesPerSample, fixedBytes: Math.max(oneSample - bytesPerSample, 0) };
}
