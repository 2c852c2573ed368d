/**
 * One optimisation step of MRN: forward pass, the MRN objective (classification + λ_seg·Dice-CE +
 * λ_con·multi-ROI SupCon), gradients of the trainable weights, clipping by global norm, and the
 * optimiser update. Usable from a user's own loop; the built-in trainer calls it per batch.
 */

import * as tf from '@tensorflow/tfjs';
import { MrnError } from '../errors.js';
import type { MrnBatch, MrnOutputs } from '../layers/types.js';
import { mrnObjective, type MrnObjectiveWeights } from '../losses/objective.js';
import { measureStepMemory, pickMicroBatchSize, type StepMemory } from './grad-accumulation.js';
import { batchSizeOf, disposeSlicedBatch, objectiveGradients, sliceBatch } from './grad-cache.js';
import { useEarlyBackwardRelease } from './backward-memory.js';

/** What {@link trainStep} needs of a model: `MultiRoiNet` fits, and so does a user's own composition. */
export interface TrainableModel {
  /** Forward pass over a batch. */
  apply(batch: MrnBatch, options: { training: boolean }): MrnOutputs;
  /** The weights to train. */
  readonly trainableWeights: tf.LayerVariable[];
}

/** Options of {@link trainStep}. */
export interface TrainStepOptions {
  /** Weights of the objective's terms (see {@link mrnObjective}). */
  weights?: MrnObjectiveWeights;
  /** Clip gradients so their global L2 norm is at most this. Default 1. `Infinity` disables clipping. */
  clipNorm?: number;
  /** Learning rate to set on the optimiser before the update (for schedules). Default: leave as is. */
  learningRate?: number;
  /**
   * Samples per micro-batch. A batch larger than this is split, and its gradient accumulated over
   * the micro-batches by gradient caching, exactly (every term of the objective, SupCon included,
   * still sees the whole batch; see `objectiveGradients`). Default: from `stepMemory` and the free
   * heap ({@link pickMicroBatchSize}) when `stepMemory` is given, else the whole batch.
   */
  microBatchSize?: number;
  /**
   * Peak memory of a step per sample and fixed, from {@link measureTrainStepMemory}: with it, the
   * micro-batch size is the largest that fits the heap (the wasm backend's 4 GiB; other backends are
   * not limited, so the batch stays whole). Ignored when `microBatchSize` is given.
   */
  stepMemory?: StepMemory;
}

/** The numbers of one {@link trainStep}: the objective's terms and the gradient norm before clipping. */
export interface TrainStepResult {
  total: number;
  classification: number;
  segmentation: number;
  contrastive: number;
  /** Global L2 norm of the gradients before clipping. */
  gradNorm: number;
  /** Micro-batches the batch was split into (1 = one pass). */
  microBatches: number;
}

/** The micro-batch size {@link trainStep} uses for a batch of `b` samples with these options. */
export function resolveMicroBatchSize(
  b: number,
  options: Pick<TrainStepOptions, 'microBatchSize' | 'stepMemory'>,
): number {
  const m = options.microBatchSize;
  if (m !== undefined) {
    if (!Number.isInteger(m) || m < 1) {
      throw new MrnError('E_CONFIG', `microBatchSize must be a positive integer, got ${m}`, {
        details: { microBatchSize: m },
      });
    }
    return Math.min(m, b);
  }
  if (options.stepMemory) {
    return pickMicroBatchSize({ batchSize: b, ...options.stepMemory, safety: TRAIN_STEP_HEAP_SAFETY });
  }
  return b;
}

/**
 * Fraction of the free wasm heap that {@link trainStep} plans a micro-batch for, from a
 * {@link measureTrainStepMemory} measurement. Higher than {@link pickMicroBatchSize}'s generic 0.6
 * because that measurement errs high: at paper scale (batch 8, ViT-S features, default heads) it
 * reads 0.69 GiB per patient + 0.27 GiB fixed, while the heap measured after a step grew by 0.40 GiB
 * per patient (1.20 / 1.60 / 2.00 GiB at micro-batches of 2 / 3 / 4; 1.39 / 1.80 / 2.21 GiB after
 * four steps, with Adam's state). With 0.75 that step runs in micro-batches of 3 instead of 2.
 */
export const TRAIN_STEP_HEAP_SAFETY = 0.75;

/**
 * Measures the peak memory of a training step (forward, {@link mrnObjective}, backward) on the first
 * one and the first two samples of `batch`, for {@link TrainStepOptions.stepMemory}: the difference is
 * what one more patient adds, the rest is fixed (weights' gradients, the objective's batch-wide terms).
 * A single measurement would count everything as per-patient: at paper scale that read 0.96 GiB per
 * patient where the wasm heap grows by 0.40 GiB per patient, so batch 8 was split into micro-batches
 * of 2 where 3 fit. With a one-sample batch only the single point is taken (`fixedBytes` 0, an
 * overestimate). Runs one or two steps without updating anything.
 */
export async function measureTrainStepMemory(
  model: TrainableModel,
  batch: MrnBatch,
  weights?: MrnObjectiveWeights,
): Promise<StepMemory> {
  if (!batch.labels || batchSizeOf(batch) < 1) {
    throw new MrnError('E_INVALID_ARGUMENT', 'measureTrainStepMemory: needs a labelled batch');
  }
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const loss = (start: number, end: number): tf.Scalar => {
    const part = sliceBatch(batch, start, end, true);
    try {
      return mrnObjective(model.apply(part, { training: true }), part, weights).total;
    } finally {
      disposeSlicedBatch(part);
    }
  };
  return measureStepMemory(loss, vars, batchSizeOf(batch));
}

/**
 * Scales `grads` so their global L2 norm is at most `maxNorm` (as PyTorch's `clip_grad_norm_`,
 * scale `maxNorm / (norm + 1e-6)` when above). Returns new tensors and the norm before clipping;
 * the inputs are not disposed.
 */
export function clipByGlobalNorm(
  grads: tf.NamedTensorMap,
  maxNorm: number,
): { grads: tf.NamedTensorMap; norm: number } {
  if (!(maxNorm > 0)) {
    throw new MrnError('E_CONFIG', `clipByGlobalNorm: maxNorm must be > 0, got ${maxNorm}`);
  }
  const names = Object.keys(grads);
  const normT = tf.tidy(() =>
    names.length === 0 ? tf.scalar(0) : tf.sqrt(tf.addN(names.map((n) => tf.sum(tf.square(grads[n]!))))),
  );
  const norm = normT.dataSync()[0]!;
  normT.dispose();
  const scale = Number.isFinite(maxNorm) && norm > maxNorm ? maxNorm / (norm + 1e-6) : 1;
  const out: tf.NamedTensorMap = {};
  for (const n of names) out[n] = scale === 1 ? tf.clone(grads[n]!) : tf.tidy(() => tf.mul(grads[n]!, scale));
  return { grads: out, norm };
}

/**
 * Runs one training step on `batch` (which must have `labels`): forward with `training: true`,
 * {@link mrnObjective}, gradients of `model.trainableWeights`, global-norm clipping, and
 * `optimizer.applyGradients`. A batch larger than the micro-batch size (see
 * {@link TrainStepOptions.microBatchSize}) is split into micro-batches with exact gradients
 * (gradient caching); otherwise it runs in one pass. Leaves no tensors behind except the optimiser's
 * own slots.
 *
 * @throws MrnError `E_INVALID_ARGUMENT` when the batch has no labels; `E_INTERNAL` when the loss or
 *   the gradient norm is not finite (the step is then not applied, so one bad batch does not poison
 *   the weights).
 */
export function trainStep(
  model: TrainableModel,
  optimizer: tf.Optimizer,
  batch: MrnBatch,
  options: TrainStepOptions = {},
): TrainStepResult {
  if (!batch.labels) throw new MrnError('E_INVALID_ARGUMENT', 'trainStep: the batch has no labels');
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  if (vars.length === 0) throw new MrnError('E_CONFIG', 'trainStep: the model has no trainable weights');
  useEarlyBackwardRelease();
  const microBatchSize = resolveMicroBatchSize(batchSizeOf(batch), options);
  const { grads, total, classification, segmentation, contrastive, microBatches } = objectiveGradients(
    model,
    batch,
    vars,
    options.weights,
    microBatchSize,
  );
  let clipped: { grads: tf.NamedTensorMap; norm: number } | undefined;
  try {
    clipped = clipByGlobalNorm(grads, options.clipNorm ?? 1);
    if (!Number.isFinite(total) || !Number.isFinite(clipped.norm)) {
      throw new MrnError(
        'E_INTERNAL',
        `trainStep: non-finite loss (${total}) or gradient norm (${clipped.norm}); step skipped (lower the learning rate?)`,
        { details: { total, classification, segmentation, contrastive, gradNorm: clipped.norm } },
      );
    }
    if (options.learningRate !== undefined) {
      (optimizer as unknown as { learningRate: number }).learningRate = options.learningRate;
    }
    optimizer.applyGradients(clipped.grads);
  } finally {
    tf.dispose(Object.values(grads));
    if (clipped) tf.dispose(Object.values(clipped.grads));
  }
  return {
    total,
    classification: classification!,
    segmentation: segmentation!,
    contrastive: contrastive!,
    gradNorm: clipped.norm,
    microBatches,
  };
}
