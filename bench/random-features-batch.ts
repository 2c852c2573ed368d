/**
 * A batch of random cached features for a MultiRoiNet, as the feature cache hands it to a training
 * step: `[B, D, N, E]` patch tokens and `[B, D, E]` CLS tokens per ROI (deterministic seeds), all
 * slices valid, masks reduced to per-block class fractions (block-resolution aux loss), balanced
 * labels. Shared by the step benches (fold-parallel, step-heap).
 */

import * as tf from '@tensorflow/tfjs';
import type { MultiRoiNet } from '../src/layers/multi-roi-net.js';
import type { MrnBatch } from '../src/layers/types.js';
import { blockTargets } from '../src/losses/block-targets.js';

export function randomFeaturesBatch(model: MultiRoiNet, batchSize: number, tokens = 256): MrnBatch {
  const c = model.config;
  const b = batchSize;
  const rois: MrnBatch['rois'] = {};
  c.rois.forEach((roi, i) => {
    const d = roi.slices ?? c.maxSlices;
    const ids = tf.randomUniformInt(
      [b, d, c.sliceSize, c.sliceSize],
      0,
      roi.numClasses,
      30 + i,
    ) as tf.Tensor4D;
    rois[roi.id] = {
      patch: tf.randomNormal([b, d, tokens, c.backboneDim], 0, 1, 'float32', 10 + i) as tf.Tensor4D,
      cls: tf.randomNormal([b, d, c.backboneDim], 0, 1, 'float32', 20 + i) as tf.Tensor3D,
      valid: tf.ones([b, d]) as tf.Tensor2D,
      masks: blockTargets(ids, Math.sqrt(tokens) * c.segUpsample, roi.numClasses),
    };
    ids.dispose();
  });
  const labels = tf.tensor1d(
    Array.from({ length: b }, (_, i) => i % 2),
    'int32',
  );
  return { rois, labels };
}
