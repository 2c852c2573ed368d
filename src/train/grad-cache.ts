/**
 * Exact gradients of the MRN objective over micro-batches (gradient caching, Gao et al. 2021,
 * "Scaling Deep Contrastive Learning Batch Size under Memory Limited Setup"). The objective couples
 * the samples of a batch (SupCon contrasts every pair; class-weighted CE and Dice-CE normalise over
 * the whole batch), so summing per-micro-batch losses would change it. Instead:
 *
 * 1. every micro-batch is run forward without a tape, keeping only what the objective reads
 *    (logits, projections, patient embedding, aux seg logits: small next to the activations);
 * 2. the objective of the whole batch is computed from those outputs, with its gradient `g` with
 *    respect to them;
 * 3. each micro-batch is run forward again under a tape, and the gradient of the surrogate
 *    `Σ sum(g_j · out_j)` (g_j held constant) is accumulated. By the chain rule the sum over
 *    micro-batches is the full batch's gradient: exact, not an approximation.
 *
 * Only one micro-batch's activations live at a time. The recomputed forward must equal the cached
 * one (no dropout or other random draws in training mode; MRN's layers have none): this is checked
 * on the logits, and a mismatch is an error rather than a silently wrong gradient.
 */

import * as tf from '@tensorflow/tfjs';
import { MrnError } from '../errors.js';
import { isFeatureInput, type MrnBatch, type MrnOutputs, type RoiInput } from '../layers/types.js';
import { mrnObjective, type MrnObjectiveWeights } from '../losses/objective.js';

/** What {@link objectiveGradients} needs of a model (`MultiRoiNet` fits). */
export interface ForwardModel {
  /** Forward pass over a batch. */
  apply(batch: MrnBatch, options: { training: boolean }): MrnOutputs;
}

/** The objective's terms as numbers and the gradients of `total`; the caller disposes `grads`. */
export interface ObjectiveGradients {
  total: number;
  classification: number;
  segmentation: number;
  contrastive: number;
  /** Gradient of `total` per variable name (variables without a path to the loss are absent). */
  grads: tf.NamedTensorMap;
  /** Micro-batches the batch was split into (1: the direct single pass). */
  microBatches: number;
}

/** Samples in a batch (the length of its labels, else of its first ROI input). */
export function batchSizeOf(batch: MrnBatch): number {
  if (batch.labels) return batch.labels.shape[0];
  const first = Object.values(batch.rois)[0];
  if (!first) throw new MrnError('E_INVALID_ARGUMENT', 'the batch has no ROI inputs');
  return (isFeatureInput(first) ? first.patch : first.slices).shape[0];
}

/**
 * Samples `[start, end)` of a batch, for the model's forward pass: every ROI tensor sliced along the
 * batch axis. Masks are left out unless `withMasks` (the model does not read them). New tensors;
 * dispose them with {@link disposeSlicedBatch}.
 */
export function sliceBatch(batch: MrnBatch, start: number, end: number, withMasks = false): MrnBatch {
  const take = <T extends tf.Tensor>(t: T): T => tf.slice(t, start, end - start) as T;
  const rois: Record<string, RoiInput> = {};
  for (const [id, input] of Object.entries(batch.rois)) {
    const masks = withMasks && input.masks ? take(input.masks) : undefined;
    rois[id] = isFeatureInput(input)
      ? { patch: take(input.patch), cls: take(input.cls), valid: take(input.valid), masks }
      : { slices: take(input.slices), valid: take(input.valid), masks };
    if (!masks) delete rois[id]!.masks;
  }
  return { rois, labels: batch.labels ? take(batch.labels) : undefined };
}

/** Disposes the tensors {@link sliceBatch} made. */
export function disposeSlicedBatch(batch: MrnBatch): void {
  const tensors: tf.Tensor[] = [];
  for (const input of Object.values(batch.rois)) {
    for (const t of Object.values(input)) if (t instanceof tf.Tensor) tensors.push(t);
  }
  if (batch.labels) tensors.push(batch.labels);
  tf.dispose(tensors);
}

/** The outputs the objective reads, by a stable key: `logits`, `projections`, `patientEmbedding`, `seg:<roi>`. */
function objectiveInputs(outputs: MrnOutputs, batch: MrnBatch): Map<string, tf.Tensor> {
  const picked = new Map<string, tf.Tensor>([
    ['logits', outputs.logits],
    ['projections', outputs.projections],
    ['patientEmbedding', outputs.patientEmbedding],
  ]);
  for (const id of outputs.roiIds) {
    const seg = outputs.segLogits[id];
    if (seg && batch.rois[id]?.masks !== undefined) picked.set(`seg:${id}`, seg);
  }
  return picked;
}

/** MrnOutputs with the objective's inputs replaced by `values` (the rest is not read by the objective). */
function outputsFrom(roiIds: string[], values: Map<string, tf.Tensor>): MrnOutputs {
  const segLogits: Record<string, tf.Tensor5D> = {};
  for (const id of roiIds) {
    const seg = values.get(`seg:${id}`);
    if (seg) segLogits[id] = seg as tf.Tensor5D;
  }
  const projections = values.get('projections') as tf.Tensor3D;
  return {
    roiIds,
    logits: values.get('logits') as tf.Tensor2D,
    projections,
    patientEmbedding: values.get('patientEmbedding') as tf.Tensor2D,
    roiTokens: projections,
    segLogits,
    sliceAttention: {},
    patchAttention: {},
  };
}

/** Reads and disposes the objective's four scalars. */
function readTerms(terms: tf.Scalar[]): [number, number, number, number] {
  const values = terms.map((t) => t.dataSync()[0]!);
  tf.dispose(terms);
  return values as [number, number, number, number];
}

/**
 * Gradients of {@link mrnObjective} on `batch` (with labels) with respect to `vars`, computed over
 * micro-batches of `microBatchSize` samples by gradient caching (see the module notes), or in one
 * pass when the micro-batch holds the whole batch. Every term stays exact (SupCon, class-weighted
 * CE, Dice-CE normalisation), so the result equals the single-pass gradient up to float rounding.
 * Leaves no tensors behind except the returned gradients.
 *
 * @throws MrnError `E_INVALID_ARGUMENT` for a batch without labels or a bad micro-batch size;
 *   `E_INTERNAL` when the recomputed forward of a micro-batch differs from the cached one (a
 *   stochastic training-mode forward, which gradient caching cannot split).
 */
export function objectiveGradients(
  model: ForwardModel,
  batch: MrnBatch,
  vars: tf.Variable[],
  weights: MrnObjectiveWeights | undefined,
  microBatchSize: number,
): ObjectiveGradients {
  if (!batch.labels) throw new MrnError('E_INVALID_ARGUMENT', 'objectiveGradients: the batch has no labels');
  const b = batchSizeOf(batch);
  if (!Number.isInteger(microBatchSize) || microBatchSize < 1) {
    throw new MrnError(
      'E_INVALID_ARGUMENT',
      `microBatchSize must be a positive integer, got ${microBatchSize}`,
      { details: { microBatchSize } },
    );
  }
  if (microBatchSize >= b) return directGradients(model, batch, vars, weights);
  const ranges: [number, number][] = [];
  for (let s = 0; s < b; s += microBatchSize) ranges.push([s, Math.min(b, s + microBatchSize)]);

  const cached: Map<string, tf.Tensor>[] = [];
  const outputGrads = new Map<string, tf.Tensor>();
  try {
    const roiIds = forwardMicroBatches(model, batch, ranges, cached);
    const [total, classification, segmentation, contrastive] = cachedOutputGradients(
      roiIds,
      cached,
      batch,
      weights,
      outputGrads,
    );
    // Only the cached logits are still needed: to check that the recomputed forward is the same.
    const cachedLogits = cached.map((m) => m.get('logits')!);
    for (const m of cached) for (const [k, t] of m) if (k !== 'logits') t.dispose();
    cached.length = 0;
    cached.push(...cachedLogits.map((t) => new Map([['logits', t]])));
    const grads = backpropagateMicroBatches(model, batch, vars, ranges, outputGrads, cachedLogits);
    return { total, classification, segmentation, contrastive, grads, microBatches: ranges.length };
  } finally {
    tf.dispose(cached.flatMap((m) => [...m.values()]));
    tf.dispose([...outputGrads.values()]);
  }
}

/**
 * Step 1: forwards every micro-batch without a tape and appends the objective's inputs of each to
 * `cached` (the caller frees them). Returns the model's ROI ids.
 */
function forwardMicroBatches(
  model: ForwardModel,
  batch: MrnBatch,
  ranges: readonly [number, number][],
  cached: Map<string, tf.Tensor>[],
): string[] {
  let roiIds: string[] = [];
  for (const [s, e] of ranges) {
    const part = sliceBatch(batch, s, e);
    try {
      const kept = tf.tidy(() => {
        const out = model.apply(part, { training: true });
        roiIds = out.roiIds;
        return Object.fromEntries(objectiveInputs(out, batch)) as Record<string, tf.Tensor>;
      });
      cached.push(new Map(Object.entries(kept)));
    } finally {
      disposeSlicedBatch(part);
    }
  }
  return roiIds;
}

/**
 * Step 2: the whole batch's objective on the cached outputs, and its gradient with respect to each
 * of them, put into `outputGrads` (the caller frees them). Returns the objective's four terms.
 */
function cachedOutputGradients(
  roiIds: string[],
  cached: readonly Map<string, tf.Tensor>[],
  batch: MrnBatch,
  weights: MrnObjectiveWeights | undefined,
  outputGrads: Map<string, tf.Tensor>,
): [number, number, number, number] {
  const keys = [...cached[0]!.keys()];
  const joined = new Map<string, tf.Variable>();
  let terms: tf.Scalar[] = [];
  let value: tf.Scalar | undefined;
  try {
    for (const k of keys) {
      const whole = tf.concat(
        cached.map((m) => m.get(k)!),
        0,
      );
      joined.set(k, tf.variable(whole, true));
      whole.dispose();
    }
    const r = tf.variableGrads(() => {
      const t = mrnObjective(outputsFrom(roiIds, joined), batch, weights);
      terms = [tf.keep(t.classification), tf.keep(t.segmentation), tf.keep(t.contrastive)];
      return t.total;
    }, [...joined.values()]);
    value = r.value;
    for (const [k, v] of joined) {
      const g = r.grads[v.name];
      if (g) outputGrads.set(k, g);
    }
  } finally {
    tf.dispose([...joined.values()]);
  }
  return readTerms([value, ...terms]);
}

/**
 * Step 3: backpropagates each micro-batch with its slice of the cached output gradients and sums
 * the weight gradients; each recomputed forward is checked against the cached logits.
 */
function backpropagateMicroBatches(
  model: ForwardModel,
  batch: MrnBatch,
  vars: tf.Variable[],
  ranges: readonly [number, number][],
  outputGrads: ReadonlyMap<string, tf.Tensor>,
  cachedLogits: readonly tf.Tensor[],
): tf.NamedTensorMap {
  let grads: tf.NamedTensorMap = {};
  try {
    ranges.forEach(([s, e], j) => {
      const part = sliceBatch(batch, s, e);
      let logits: tf.Tensor | undefined;
      try {
        const step = tf.variableGrads(() => {
          const out = model.apply(part, { training: true });
          logits = tf.keep(tf.clone(out.logits));
          const picked = objectiveInputs(out, batch);
          const products: tf.Scalar[] = [];
          for (const [k, g] of outputGrads) {
            products.push(tf.sum(tf.mul(tf.slice(g, s, e - s), picked.get(k)!)));
          }
          return tf.addN(products) as tf.Scalar;
        }, vars);
        const next: tf.NamedTensorMap = {};
        for (const [name, g] of Object.entries(step.grads)) {
          next[name] = grads[name] ? tf.add(grads[name]!, g) : tf.clone(g);
        }
        tf.dispose([step.value, ...Object.values(step.grads), ...Object.values(grads)]);
        grads = next;
        checkRecomputed(cachedLogits[j]!, logits!, s, e);
      } finally {
        logits?.dispose();
        disposeSlicedBatch(part);
      }
    });
    return grads;
  } catch (error) {
    tf.dispose(Object.values(grads));
    throw error;
  }
}

/**
 * Throws `E_INTERNAL` unless the recomputed logits of samples `[start, end)` equal the cached ones
 * (to 1e-4 of their magnitude: the same ops on the same inputs; dropout would differ by far more).
 */
function checkRecomputed(cached: tf.Tensor, again: tf.Tensor, start: number, end: number): void {
  const [diff, scale] = tf.tidy(() => [
    tf.max(tf.abs(tf.sub(cached, again))).dataSync()[0]!,
    tf.max(tf.abs(cached)).dataSync()[0]!,
  ]);
  if (!(diff <= 1e-4 * Math.max(1, scale))) {
    throw new MrnError(
      'E_INTERNAL',
      `objectiveGradients: the forward pass of samples ${start}..${end - 1} gave different logits when recomputed ` +
        `(max difference ${diff}); a training-mode forward with random draws (dropout) cannot be split into ` +
        'micro-batches exactly: use microBatchSize >= the batch size, or make the forward deterministic',
      { details: { start, end, diff } },
    );
  }
}

/** The single-pass gradient: forward, objective and backward over the whole batch at once. */
function directGradients(
  model: ForwardModel,
  batch: MrnBatch,
  vars: tf.Variable[],
  weights: MrnObjectiveWeights | undefined,
): ObjectiveGradients {
  let terms: tf.Scalar[] = [];
  const { value, grads } = tf.variableGrads(() => {
    const outputs = model.apply(batch, { training: true });
    const t = mrnObjective(outputs, batch, weights);
    terms = [tf.keep(t.classification), tf.keep(t.segmentation), tf.keep(t.contrastive)];
    return t.total;
  }, vars);
  const [total, classification, segmentation, contrastive] = readTerms([value, ...terms]);
  return { total, classification, segmentation, contrastive, grads, microBatches: 1 };
}
