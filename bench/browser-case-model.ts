/**
 * The model and the timed prediction of bench/browser-case.ts, shared by its Node side and its page
 * (bench/browser-case-page.ts): `mrn train`'s default random backbone (dinov2-test-tiny, seed 0) and
 * a MultiRoiNet with the training defaults over the MRN ROIs, both seeded, so Node and the page build
 * the same weights. One prediction = the backbone on every ROI slice, the heads, and P(PD) read back.
 */

import * as tf from '@tensorflow/tfjs';
import { MultiRoiNet, roiSpecsFromDefinitions } from '../src/layers/multi-roi-net.js';
import type { MrnBatch } from '../src/layers/types.js';
import { VisionTransformer } from '../src/layers/vit/vision-transformer.js';
import { MRN_ROIS } from '../src/preprocess/roi-definitions.js';

/** One preprocessed ROI as the bench ships it to the page. */
export interface BenchRoi {
  roiId: string;
  depth: number;
  size: number;
  valid: number[];
  /** Offset (in floats) of its slices in the case's binary. */
  offset: number;
}

/** The seeded model; the caller disposes both. */
export function benchModel(): { model: MultiRoiNet; backbone: VisionTransformer } {
  const backbone = new VisionTransformer({
    preset: 'dinov2-test-tiny',
    seed: 0,
    weightInit: 'random',
    name: 'random_vit',
  });
  const model = new MultiRoiNet(
    { rois: roiSpecsFromDefinitions(MRN_ROIS), sliceSize: 224, seed: 1 },
    { backbone },
  );
  return { model, backbone };
}

/** Times `runs` predictions of the case after one warm-up (shader compilation, kernel set-up). */
export async function timePredictions(
  rois: BenchRoi[],
  data: Float32Array,
  runs: number,
): Promise<{ ms: number[]; probPd: number }> {
  const { model, backbone } = benchModel();
  const predict = async (): Promise<number> => {
    const batch: MrnBatch = { rois: {} };
    for (const r of rois) {
      const n = r.depth * r.size * r.size;
      batch.rois[r.roiId] = {
        slices: tf.tensor5d(data.subarray(r.offset, r.offset + n), [1, r.depth, r.size, r.size, 1]),
        valid: tf.tensor2d(Float32Array.from(r.valid), [1, r.depth]),
      };
    }
    const prob = tf.tidy(() =>
      tf.softmax(model.apply(batch, { training: false }).logits).slice([0, 1], [1, 1]),
    );
    const p = (await prob.data())[0]!;
    tf.dispose([prob, ...Object.values(batch.rois).flatMap((i) => Object.values(i) as tf.Tensor[])]);
    return p;
  };
  const probPd = await predict();
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await predict();
    ms.push(performance.now() - start);
  }
  model.dispose();
  backbone.dispose();
  return { ms, probPd };
}

/** The median of `xs`. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}
