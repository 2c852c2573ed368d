/** Tiny MultiRoiNet configurations and synthetic batches shared by the layer tests. */

import * as tf from '@tensorflow/tfjs';
import type { MultiRoiNetConfig, RoiSpec } from '../../../src/layers/multi-roi-net.js';
import { segTargetsFor } from '../../../src/losses/block-targets.js';
import type { MrnBatch } from '../../../src/layers/types.js';
import { createRng } from '../../../src/rng.js';

export const TINY_ROIS: RoiSpec[] = [
  { id: 'roi-a', numClasses: 2, slices: 4 },
  { id: 'roi-b', numClasses: 3, slices: 3 },
];

/** The `'mrn-tiny'` preset on {@link TINY_ROIS} and 28 x 28 slices. */
export const TINY_CONFIG: MultiRoiNetConfig = { preset: 'mrn-tiny', rois: TINY_ROIS, sliceSize: 28, seed: 3 };

/** Deterministic `[B, D, S, S, 1]` slices in [0, 1]; for label 1 a bright square sits in the middle. */
export function syntheticSlices(labels: number[], d: number, s: number, seed: number): tf.Tensor5D {
  const rng = createRng(seed);
  const data = new Float32Array(labels.length * d * s * s);
  let k = 0;
  for (const label of labels) {
    for (let z = 0; z < d; z++) {
      for (let y = 0; y < s; y++) {
        for (let x = 0; x < s; x++) {
          const inside = Math.abs(y - s / 2) < s / 4 && Math.abs(x - s / 2) < s / 4;
          data[k++] = 0.3 * rng.next() + (label === 1 && inside ? 0.6 : 0);
        }
      }
    }
  }
  return tf.tensor5d(data, [labels.length, d, s, s, 1]);
}

/** Validity `[B, D]` with the last `padding[b]` slices of item b marked as padding. */
export function validFlags(b: number, d: number, padding: number[] = []): tf.Tensor2D {
  const v = new Float32Array(b * d).fill(1);
  for (let i = 0; i < b; i++) for (let z = d - (padding[i] ?? 0); z < d; z++) v[i * d + z] = 0;
  return tf.tensor2d(v, [b, d]);
}

/** Random `[B, D, S, S]` int32 class masks. */
export function randomMasks(b: number, d: number, s: number, classes: number, seed: number): tf.Tensor4D {
  const rng = createRng(seed);
  return tf.tensor4d(
    Int32Array.from({ length: b * d * s * s }, () => rng.int(0, classes)),
    [b, d, s, s],
    'int32',
  );
}

/** An image batch for {@link TINY_ROIS}. */
export function tinyImageBatch(labels: number[], seed = 1): MrnBatch {
  const b = labels.length;
  return {
    rois: {
      'roi-a': { slices: syntheticSlices(labels, 4, 28, seed), valid: validFlags(b, 4, [1]) },
      'roi-b': { slices: syntheticSlices(labels, 3, 28, seed + 1), valid: validFlags(b, 3) },
    },
    labels: tf.tensor1d(labels, 'int32'),
  };
}

/** Disposes every tensor of a batch. */
export function disposeBatch(batch: MrnBatch): void {
  for (const input of Object.values(batch.rois)) tf.dispose(Object.values(input) as tf.Tensor[]);
  if (batch.labels) batch.labels.dispose();
}

/** A training loss touching every output head: CE + seg CE + projection magnitude. */
export function tinyLoss(out: import('../../../src/layers/types.js').MrnOutputs, batch: MrnBatch): tf.Scalar {
  return tf.tidy(() => {
    const k = out.logits.shape[1];
    let loss = tf.losses.softmaxCrossEntropy(tf.oneHot(batch.labels!, k), out.logits) as tf.Tensor;
    for (const id of out.roiIds) {
      const seg = out.segLogits[id]!;
      const classes = seg.shape[4];
      const masks = batch.rois[id]!.masks;
      // Slice masks against block-resolution logits become per-block class fractions.
      const fitted = masks ? segTargetsFor(seg, masks) : undefined;
      const target = fitted
        ? fitted.rank === 5
          ? tf.reshape(fitted, [-1, classes])
          : tf.oneHot(tf.reshape(fitted, [-1]), classes)
        : tf.oneHot(tf.zeros([seg.size / classes], 'int32'), classes);
      loss = tf.add(loss, tf.mul(tf.losses.softmaxCrossEntropy(target, tf.reshape(seg, [-1, classes])), 0.1));
    }
    loss = tf.add(loss, tf.mul(tf.mean(tf.square(out.projections)), 0.01));
    return loss as tf.Scalar;
  });
}
