/**
 * The data contract between the ROI pipeline, {@link MultiRoiNet}, the losses and the training loop.
 * Tensors are channels-last; B = patients, D = slices of an ROI (differs by ROI), S = slice size,
 * N = patch tokens per slice, E = embedding width, R = ROIs, K = classes, P = projection width.
 */

import type * as tf from '@tensorflow/tfjs';

/** An ROI given as image stacks, to be encoded by the slice encoder. */
export interface RoiImageInput {
  /** `[B, D, S, S, C]` float32 slices (C = 1 for MRI; the encoder replicates to 3 channels). */
  slices: tf.Tensor5D;
  /** `[B, D]` float32, 1 for real slices and 0 for padding slices (padding never affects the ROI token). */
  valid: tf.Tensor2D;
  /**
   * Optional targets for the auxiliary segmentation head: `[B, D, S, S]` int32 class ids, or masks
   * already reduced to the head's block resolution, `[B, D, T, T, K]` float32 per-block class
   * fractions (see `blockTargets`).
   */
  masks?: tf.Tensor4D | tf.Tensor5D;
}

/** An ROI given as precomputed (cached) backbone features, skipping the slice encoder. */
export interface RoiFeatureInput {
  /** `[B, D, N, E]` patch tokens per slice. */
  patch: tf.Tensor4D;
  /** `[B, D, E]` CLS token per slice. */
  cls: tf.Tensor3D;
  /** `[B, D]` float32 validity, as in {@link RoiImageInput}. */
  valid: tf.Tensor2D;
  /** Optional aux-head targets, as in {@link RoiImageInput.masks}: class ids `[B, D, S, S]` or fractions `[B, D, T, T, K]`. */
  masks?: tf.Tensor4D | tf.Tensor5D;
}

/** One ROI's input: image stacks or cached features. */
export type RoiInput = RoiImageInput | RoiFeatureInput;

/** True when `input` holds cached features rather than images. */
export function isFeatureInput(input: RoiInput): input is RoiFeatureInput {
  return (input as RoiFeatureInput).patch !== undefined;
}

/** A batch for {@link MultiRoiNet}: one input per ROI id, plus the patients' labels when training. */
export interface MrnBatch {
  /** ROI id (e.g. `'qsm-bg'`) to its input. Every ROI of the model must be present. */
  rois: Record<string, RoiInput>;
  /** `[B]` int32 class labels (1 = PD, 0 = HC); required by the losses, not by inference. */
  labels?: tf.Tensor1D;
}

/** What {@link MultiRoiNet.apply} returns. ROI-indexed tensors follow `roiIds` order. */
export interface MrnOutputs {
  /** The ROI ids in the order of the R axis. */
  roiIds: string[];
  /** `[B, K]` class logits. */
  logits: tf.Tensor2D;
  /** `[B, E]` patient embedding (before the classifier). */
  patientEmbedding: tf.Tensor2D;
  /** `[B, R, E]` one token per ROI. */
  roiTokens: tf.Tensor3D;
  /** `[B, R, P]` per-ROI projections for the contrastive loss (not normalised). */
  projections: tf.Tensor3D;
  /**
   * Per ROI: auxiliary segmentation logits (D and classes differ by ROI), `[B, D, T, T, classes]` at
   * the model's `segResolution` `'block'`, `[B, D, S, S, classes]` at `'full'`.
   */
  segLogits: Record<string, tf.Tensor5D>;
  /** Per ROI: `[B, D]` slice attention weights of the SFA pooling (0 on padding slices; rows sum to 1). */
  sliceAttention: Record<string, tf.Tensor2D>;
  /** Per ROI: `[B, D, N]` patch attention weights of the FFA pooling (rows sum to 1). */
  patchAttention: Record<string, tf.Tensor3D>;
  /** `[B, R]` attention of the patient fusion pooling over ROIs, when the fusion uses attention. */
  roiAttention?: tf.Tensor2D;
}
