/**
 * Batches for the frozen-backbone path. The backbone's features of every case, ROI and augmentation
 * variant are computed once and kept outside the tfjs heap; a training batch picks one variant per
 * case and stacks the typed arrays into an {@link MrnBatch} of cached features, so epochs after the
 * first never run the backbone.
 */

import * as tf from '@tensorflow/tfjs';
import { MrnError } from '../errors.js';
import type { MrnBatch, RoiFeatureInput } from '../layers/types.js';

/** Cached backbone features of one ROI of one case (one augmentation variant). */
export interface RoiFeatures {
  /** Slices D. */
  depth: number;
  /** Patch tokens per slice N. */
  tokens: number;
  /** Feature width E. */
  embedDim: number;
  /** `[D, N, E]` patch tokens. */
  patch: Float32Array;
  /** `[D, E]` CLS tokens. */
  cls: Float32Array;
  /** `[D]` 1 for real slices, 0 for padding. */
  valid: ArrayLike<number>;
  /** Slice size S of the masks. */
  size?: number;
  /** `[D, S, S]` class ids for the aux head (the variant's augmented masks). */
  masks?: Int32Array;
  /** Side T of {@link RoiFeatures.blockMasks}. */
  blocks?: number;
  /** Classes K (background included) of {@link RoiFeatures.blockMasks}. */
  classes?: number;
  /**
   * `[D, T, T, K]` per-block class fractions of the masks, for an aux head trained at block
   * resolution (reduced once, when the features were cached). Batches use them instead of `masks`.
   */
  blockMasks?: Float32Array;
}

/** Where batches get features from: a feature cache, or anything with the same shape. */
export interface FeatureSource {
  /** ROI ids, in the model's order. */
  readonly roiIds: readonly string[];
  /** Augmentation variants per case (variant 0 is the unaugmented one, used for evaluation). */
  readonly variants: number;
  /** Features of one case, ROI and variant. */
  get(caseId: string, roiId: string, variant: number): RoiFeatures | Promise<RoiFeatures>;
}

/** A case with its label (1 = PD, 0 = HC). */
export interface LabelledCase {
  caseId: string;
  label: number;
}

/**
 * Stacks the features of `caseIds` (variant `variants[i]` for case i) into an {@link MrnBatch}, with
 * `labels` when given. Masks are included only when every case has them for that ROI: per-block class
 * fractions `[B, D, T, T, K]` when every case has `blockMasks`, else class ids `[B, D, S, S]`. The caller
 * disposes the batch ({@link disposeBatch}).
 *
 * @throws MrnError `E_INVALID_ARGUMENT` when the cases' features of an ROI differ in shape.
 */
export async function makeFeatureBatch(
  source: FeatureSource,
  caseIds: readonly string[],
  variants: readonly number[],
  labels?: readonly number[],
): Promise<MrnBatch> {
  if (caseIds.length === 0) throw new MrnError('E_INVALID_ARGUMENT', 'makeFeatureBatch: no cases');
  if (variants.length !== caseIds.length || (labels && labels.length !== caseIds.length)) {
    throw new MrnError(
      'E_INVALID_ARGUMENT',
      'makeFeatureBatch: caseIds, variants and labels must have equal lengths',
    );
  }
  const b = caseIds.length;
  const rois: Record<string, RoiFeatureInput> = {};
  try {
    for (const roiId of source.roiIds) {
      const feats = await Promise.all(caseIds.map((id, i) => source.get(id, roiId, variants[i]!)));
      const f0 = feats[0]!;
      const { depth: d, tokens: n, embedDim: e } = f0;
      feats.forEach((f, i) => {
        if (f.depth !== d || f.tokens !== n || f.embedDim !== e || (f.masks && f.size !== f0.size)) {
          throw new MrnError(
            'E_INVALID_ARGUMENT',
            `makeFeatureBatch: ROI '${roiId}' features of case ${caseIds[i]} are [D=${f.depth}, N=${f.tokens}, E=${f.embedDim}], case ${caseIds[0]} has [${d}, ${n}, ${e}]`,
            { caseId: caseIds[i] },
          );
        }
      });
      const patch = new Float32Array(b * d * n * e);
      const cls = new Float32Array(b * d * e);
      const valid = new Float32Array(b * d);
      feats.forEach((f, i) => {
        patch.set(f.patch, i * d * n * e);
        cls.set(f.cls, i * d * e);
        for (let k = 0; k < d; k++) valid[i * d + k] = Number(f.valid[k]);
      });
      const input: RoiFeatureInput = {
        patch: tf.tensor4d(patch, [b, d, n, e]),
        cls: tf.tensor3d(cls, [b, d, e]),
        valid: tf.tensor2d(valid, [b, d]),
      };
      rois[roiId] = input;
      const s = f0.size;
      const t = f0.blocks;
      const k = f0.classes;
      if (
        t !== undefined &&
        k !== undefined &&
        feats.every((f) => f.blockMasks && f.blocks === t && f.classes === k)
      ) {
        const fractions = new Float32Array(b * d * t * t * k);
        feats.forEach((f, i) => fractions.set(f.blockMasks!, i * d * t * t * k));
        input.masks = tf.tensor5d(fractions, [b, d, t, t, k]);
      } else if (s !== undefined && feats.every((f) => f.masks)) {
        const masks = new Int32Array(b * d * s * s);
        feats.forEach((f, i) => masks.set(f.masks!, i * d * s * s));
        input.masks = tf.tensor4d(masks, [b, d, s, s], 'int32');
      }
    }
  } catch (error) {
    disposeBatch({ rois });
    throw error;
  }
  return { rois, labels: labels ? tf.tensor1d(Array.from(labels), 'int32') : undefined };
}

/** Disposes every tensor of a batch. */
export function disposeBatch(batch: MrnBatch): void {
  const tensors: tf.Tensor[] = [];
  for (const roi of Object.values(batch.rois)) {
    for (const t of Object.values(roi)) if (t instanceof tf.Tensor) tensors.push(t);
  }
  if (batch.labels) tensors.push(batch.labels);
  tf.dispose(tensors);
}
