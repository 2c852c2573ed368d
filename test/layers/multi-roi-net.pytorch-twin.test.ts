/**
 * The trainable heads against their PyTorch twin (bench/heads.py): for each fixture of
 * test/fixtures/heads (made by its make.ts), a MultiRoiNet loads the exported weights, runs the fixed
 * cached-feature batch, and its outputs, every term of the MRN objective and the gradient of every
 * weight must equal the twin's float64 numbers within 1e-4 (scaled by the tensor's largest magnitude
 * when that exceeds 1). No Python runs here: the reference numbers are committed.
 */
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  blockTargets,
  loadMultiRoiNetSafetensors,
  mrnObjective,
  MultiRoiNet,
  readSafetensors,
  selectBackend,
  type MrnBatch,
  type MrnObjectiveWeights,
  type MultiRoiNetConfig,
  type SafetensorsTensor,
} from '../../src/index.js';

/** Fixture, and how its masks reach the model: slice-resolution class ids, or already reduced per block. */
const CASES: [string, 'ids' | 'reduced'][] = [
  ['transformer-per-roi-block', 'ids'],
  ['transformer-per-roi-block', 'reduced'],
  ['transformer-per-roi-full', 'ids'],
  ['concat-mlp-joint-block', 'ids'],
];
const TOLERANCE = 1e-4;

function fixture(name: string, file: string): string {
  return new URL(`../fixtures/heads/${name}/${file}`, import.meta.url).pathname;
}

/** Max |ours − reference| divided by max(1, max |reference|). */
function scaledDiff(ours: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (ours.length !== ref.length) throw new Error(`length ${ours.length} vs ${ref.length}`);
  let diff = 0;
  let scale = 1;
  for (let i = 0; i < ref.length; i++) {
    diff = Math.max(diff, Math.abs(ours[i]! - ref[i]!));
    scale = Math.max(scale, Math.abs(ref[i]!));
  }
  return diff / scale;
}

/**
 * The fixture's batch. `reduce` (block resolution): masks given as per-block class fractions
 * `[B, D, T, T, K]` (as the feature cache stores them) instead of slice-resolution class ids.
 */
function batchFrom(
  inputs: Record<string, SafetensorsTensor>,
  model: MultiRoiNet,
  reduce: boolean,
  blocks: number,
): MrnBatch {
  const t = (name: string, dtype: 'float32' | 'int32' = 'float32') =>
    tf.tensor(inputs[name]!.data as Float32Array | Int32Array, inputs[name]!.shape, dtype);
  const rois: MrnBatch['rois'] = {};
  for (const roi of model.config.rois) {
    const id = roi.id;
    const ids = t(`${id}/masks`, 'int32') as tf.Tensor4D;
    let masks: tf.Tensor4D | tf.Tensor5D = ids;
    if (reduce) {
      masks = blockTargets(ids, blocks, roi.numClasses);
      ids.dispose();
    }
    rois[id] = {
      patch: t(`${id}/patch`) as tf.Tensor4D,
      cls: t(`${id}/cls`) as tf.Tensor3D,
      valid: t(`${id}/valid`) as tf.Tensor2D,
      masks,
    };
  }
  return { rois, labels: t('labels', 'int32') as tf.Tensor1D };
}

describe.each(['cpu', 'wasm'] as const)(
  'MultiRoiNet heads = PyTorch twin (bench/heads.py) on %s',
  (backend) => {
    beforeAll(async () => {
      await selectBackend({ backend });
    });

    it.each(CASES)(
      '%s, masks as %s: logits, outputs, loss terms and every gradient within 1e-4',
      async (name, masks) => {
        const spec = JSON.parse(readFileSync(fixture(name, 'case.json'), 'utf8')) as {
          config: MultiRoiNetConfig;
          objective: MrnObjectiveWeights;
        };
        const ref = await readSafetensors(fixture(name, 'reference.safetensors'));
        const refTerms = (
          JSON.parse(readFileSync(fixture(name, 'reference.json'), 'utf8')) as {
            terms: Record<string, number>;
          }
        ).terms;
        const model = new MultiRoiNet(spec.config);
        await loadMultiRoiNetSafetensors(model, fixture(name, 'weights.safetensors'));
        const inputs = await readSafetensors(fixture(name, 'inputs.safetensors'));
        const tokens = inputs[`${model.roiIds[0]}/patch`]!.shape[2]!;
        const blocks = Math.round(Math.sqrt(tokens)) * model.config.segUpsample;
        const batch = batchFrom(inputs, model, masks === 'reduced', blocks);
        const before = tf.memory().numTensors;

        const named = model.namedWeights();
        const outputs: Record<string, Float32Array> = {};
        const terms: Record<string, number> = {};
        const { value, grads } = tf.variableGrads(
          () => {
            const out = model.apply(batch, { training: true });
            const t = mrnObjective(out, batch, spec.objective);
            outputs.logits = out.logits.dataSync() as Float32Array;
            outputs.patientEmbedding = out.patientEmbedding.dataSync() as Float32Array;
            outputs.projections = out.projections.dataSync() as Float32Array;
            if (out.roiAttention) outputs.roiAttention = out.roiAttention.dataSync() as Float32Array;
            model.roiIds.forEach((id, r) => {
              outputs[`${id}/roiToken`] = tf
                .tidy(() => tf.squeeze(tf.slice(out.roiTokens, [0, r, 0], [-1, 1, -1]), [1]))
                .dataSync() as Float32Array;
              outputs[`${id}/segLogits`] = out.segLogits[id]!.dataSync() as Float32Array;
              outputs[`${id}/sliceAttention`] = out.sliceAttention[id]!.dataSync() as Float32Array;
              outputs[`${id}/patchAttention`] = out.patchAttention[id]!.dataSync() as Float32Array;
            });
            for (const k of ['classification', 'segmentation', 'contrastive'] as const) {
              terms[k] = t[k].dataSync()[0]!;
            }
            return t.total;
          },
          named.map((w) => w.variable.read() as tf.Variable),
        );
        terms.total = value.dataSync()[0]!;

        const diffs: Record<string, number> = {};
        for (const [k, v] of Object.entries(outputs)) diffs[k] = scaledDiff(v, ref[k]!.data as Float64Array);
        for (const [k, v] of Object.entries(refTerms)) diffs[`term/${k}`] = scaledDiff([terms[k]!], [v]);
        // The fixtures name gradients by the weight paths of their day (`grad/branches/roi-a/...`).
        const refGradName = new Map(
          Object.keys(ref)
            .filter((k) => k.startsWith('grad/'))
            .map((k) => [model.canonicalWeightPath(k.slice('grad/'.length)), k]),
        );
        for (const w of named) {
          const g = grads[(w.variable.read() as tf.Variable).name];
          const refName = refGradName.get(w.path) ?? `grad/${w.path}`;
          const refGrad = ref[refName]!.data as Float64Array;
          // tfjs leaves out variables the loss does not touch (priorScale without the prior): zero gradient.
          diffs[refName] = scaledDiff(g ? g.dataSync() : new Float32Array(refGrad.length), refGrad);
        }
        // Every reference tensor was compared.
        expect(
          Object.keys(diffs)
            .filter((k) => !k.startsWith('term/'))
            .sort(),
        ).toEqual(Object.keys(ref).sort());
        const ranked = Object.entries(diffs).sort((a, b) => b[1] - a[1]);
        if (process.env.HEADS_TWIN_DEBUG)
          console.log(`${backend} ${name} worst ${JSON.stringify(ranked.slice(0, 3))}`);
        const worst = ranked[0]!;
        expect(worst[1], `worst: ${worst[0]}`).toBeLessThanOrEqual(TOLERANCE);

        tf.dispose([value, ...Object.values(grads)]);
        expect(tf.memory().numTensors).toBe(before);
        tf.dispose([
          batch.labels!,
          ...Object.values(batch.rois).flatMap((r) => Object.values(r) as tf.Tensor[]),
        ]);
        model.dispose();
      },
    );

    afterAll(() => {
      expect(tf.memory().numTensors).toBeGreaterThanOrEqual(0);
    });
  },
);
