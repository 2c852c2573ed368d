import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/index.js';
import { blockTargets } from '../../src/losses/block-targets.js';
import type { MrnObjectiveWeights } from '../../src/losses/objective.js';
import { MultiRoiNet, type MultiRoiNetConfig } from '../../src/layers/multi-roi-net.js';
import type { MrnBatch } from '../../src/layers/types.js';
import { createRng } from '../../src/rng.js';
import { disposeBatch } from '../../src/train/feature-batch.js';
import { objectiveGradients } from '../../src/train/grad-cache.js';
import {
  measureTrainStepMemory,
  resolveMicroBatchSize,
  TRAIN_STEP_HEAP_SAFETY,
  trainStep,
} from '../../src/train/train-step.js';
import { sliceBatch, disposeSlicedBatch } from '../../src/train/grad-cache.js';
import { WASM_HEAP_LIMIT_BYTES } from '../../src/wasm/heap.js';
import { maxAbsDiff } from '../helpers/arrays.js';
import { expectMrnError } from '../helpers/errors.js';

// Tiny cached-feature model: 2 ROIs, 2 x 2 tokens of a 14-pixel patch (S = 28), backbone width 8.
const [S, N, E] = [28, 4, 8];
const ROIS = [
  { id: 'roi-a', numClasses: 2, slices: 3 },
  { id: 'roi-b', numClasses: 3, slices: 4 },
];
const CONFIG: MultiRoiNetConfig = {
  rois: ROIS,
  preset: 'mrn-tiny',
  sliceSize: S,
  backboneDim: E,
  patchSize: 14,
  seed: 7,
};
const LABELS = [0, 1, 0, 1, 1, 0, 1, 0];

/** B = 8 cases with padding slices; roi-a's masks at slice resolution, roi-b's already per-block fractions. */
function makeBatch(): MrnBatch {
  const rng = createRng(3);
  const b = LABELS.length;
  const normal = (n: number) => Float32Array.from({ length: n }, () => rng.normal(0, 1));
  const rois: MrnBatch['rois'] = {};
  for (const roi of ROIS) {
    const d = roi.slices;
    const valid = Float32Array.from({ length: b * d }, (_, i) =>
      i % d === d - 1 && (i / d) % 3 === 0 ? 0 : 1,
    );
    const ids = Int32Array.from({ length: b * d * S * S }, (_, i) => {
      const x = i % S;
      const y = Math.floor(i / S) % S;
      return Math.abs(x - 12) < 4 && Math.abs(y - 15) < 3
        ? 1 + (rng.int(0, roi.numClasses - 1) % (roi.numClasses - 1))
        : 0;
    });
    const masks = tf.tensor4d(ids, [b, d, S, S], 'int32');
    rois[roi.id] = {
      patch: tf.tensor4d(normal(b * d * N * E), [b, d, N, E]),
      cls: tf.tensor3d(
        normal(b * d * E).map((v, i) => v + (LABELS[Math.floor(i / (d * E))]! - 0.5)),
        [b, d, E],
      ),
      valid: tf.tensor2d(valid, [b, d]),
      masks: roi.id === 'roi-b' ? blockTargets(masks, 4, roi.numClasses) : masks,
    };
    if (roi.id === 'roi-b') masks.dispose();
  }
  return { rois, labels: tf.tensor1d(LABELS, 'int32') };
}

const TERMS: [string, MrnObjectiveWeights][] = [
  ['classification CE', { lambdaSeg: 0, lambdaCon: 0 }],
  [
    'CE with class weights and label smoothing',
    { lambdaSeg: 0, lambdaCon: 0, classWeights: [0.4, 1.6], labelSmoothing: 0.1 },
  ],
  ['CE + segmentation Dice-CE', { lambdaSeg: 1, lambdaCon: 0 }],
  ['CE + SupCon per-roi', { lambdaSeg: 0, lambdaCon: 1, supconMode: 'per-roi', roiWeights: { 'roi-b': 2 } }],
  ['CE + SupCon joint', { lambdaSeg: 0, lambdaCon: 1, supconMode: 'joint' }],
  ['CE + SupCon with the patient embedding', { lambdaSeg: 0, lambdaCon: 1, includePatientEmbedding: true }],
  [
    'all together',
    {
      lambdaSeg: 0.7,
      lambdaCon: 0.5,
      classWeights: [0.4, 1.6],
      includePatientEmbedding: true,
      temperature: 0.2,
    },
  ],
];

beforeAll(async () => {
  await selectBackend({ backend: 'cpu' });
});

describe('micro-batches with exact gradients (gradient caching)', () => {
  it.each(TERMS)('micro-batches of 1, 2 and 4 give the unsplit gradient: %s', (_name, weights) => {
    const model = new MultiRoiNet(CONFIG);
    const batch = makeBatch();
    const vars = model.trainableVariables();
    const before = tf.memory().numTensors;
    const whole = objectiveGradients(model, batch, vars, weights, LABELS.length);
    expect(whole.microBatches).toBe(1);
    // Variables with no path to the terms asked for (the projection head without SupCon) have no gradient.
    const names = Object.keys(whole.grads);
    expect(names.length).toBeGreaterThan(vars.length / 2);
    const ref = names.map((n) => whole.grads[n]!.dataSync().slice());
    const largest = Math.max(...ref.map((g) => Math.max(...Array.from(g, Math.abs))));
    expect(largest).toBeGreaterThan(0);
    for (const m of [1, 2, 4]) {
      const split = objectiveGradients(model, batch, vars, weights, m);
      expect(split.microBatches).toBe(LABELS.length / m);
      for (const k of ['total', 'classification', 'segmentation', 'contrastive'] as const) {
        expect(Math.abs(split[k] - whole[k])).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(whole[k])));
      }
      expect(Object.keys(split.grads).sort()).toEqual([...names].sort());
      const worst = Math.max(...names.map((n, i) => maxAbsDiff(split.grads[n]!.dataSync(), ref[i]!)));
      expect(worst).toBeLessThanOrEqual(1e-5 * largest);
      tf.dispose(Object.values(split.grads));
    }
    tf.dispose(Object.values(whole.grads));
    expect(tf.memory().numTensors).toBe(before);
    disposeBatch(batch);
    model.dispose();
  });

  it('3 Adam steps with micro-batches of 1, 2 and 4 end at the weights of the unsplit steps, leaking nothing', () => {
    const weights = TERMS[TERMS.length - 1]![1];
    const batch = makeBatch();
    const run = (microBatchSize?: number) => {
      const model = new MultiRoiNet(CONFIG);
      const optimizer = tf.train.adam(1e-2);
      const counts: number[] = [];
      const results = [];
      for (let step = 0; step < 3; step++) {
        results.push(trainStep(model, optimizer, batch, { weights, microBatchSize }));
        counts.push(tf.memory().numTensors);
      }
      const final = model.trainableWeights.map((w) => w.read().dataSync().slice());
      optimizer.dispose();
      model.dispose();
      return { final, counts, results };
    };
    const whole = run();
    expect(whole.results.map((r) => r.microBatches)).toEqual([1, 1, 1]);
    // Elements whose true gradient is 0 (the key part of an attention's qkv bias: softmax ignores a
    // shift shared by all keys; a dead hidden unit) get rounding noise as gradient, and Adam turns any
    // noise into a full learning-rate step of random sign, split or not. They are left out of the
    // comparison: those whose unsplit gradient is under 1e-6 of the largest.
    const probe = new MultiRoiNet(CONFIG);
    const g0 = objectiveGradients(probe, batch, probe.trainableVariables(), weights, LABELS.length);
    const gradOf = probe.trainableWeights.map((w) =>
      g0.grads[(w.read() as tf.Variable).name]!.dataSync().slice(),
    );
    const largestGrad = Math.max(...gradOf.map((g) => Math.max(...Array.from(g, Math.abs))));
    const noise = gradOf.map((g) => Array.from(g, (v) => Math.abs(v) <= 1e-6 * largestGrad));
    const noisy = probe.trainableWeights.flatMap((w, i) =>
      noise[i]!.some(Boolean)
        ? [`${w.name.replace(/_\d+$/, '')}[${noise[i]!.flatMap((n, j) => (n ? [j] : [])).join(',')}]`]
        : [],
    );
    const keyBias = Array.from({ length: 16 }, (_, j) => 16 + j).join(',');
    // Here: the key biases of the three attention blocks, one dead hidden unit of the projection
    // head, one entry of the FFA key kernel: under 1% of the elements.
    for (const block of ['sfa.block0.attn.qkv.bias', 'fusion.block0.attn.qkv.bias']) {
      expect(noisy).toContain(`${block}[${keyBias}]`);
    }
    const excluded = noise.flat().filter(Boolean).length;
    expect(excluded).toBeLessThan(0.01 * noise.flat().length);
    tf.dispose(Object.values(g0.grads));
    probe.dispose();
    const largest = Math.max(...whole.final.map((w) => Math.max(...Array.from(w, Math.abs))));
    for (const m of [1, 2, 4]) {
      const split = run(m);
      expect(split.results.map((r) => r.microBatches)).toEqual([8 / m, 8 / m, 8 / m]);
      // No tensor leaks over steps (the optimiser's slots exist from step 1 on).
      expect(split.counts[2]).toBe(split.counts[0]);
      split.results.forEach((r, i) => {
        expect(Math.abs(r.total - whole.results[i]!.total)).toBeLessThanOrEqual(
          1e-5 * Math.abs(whole.results[i]!.total),
        );
        expect(Math.abs(r.gradNorm - whole.results[i]!.gradNorm)).toBeLessThanOrEqual(
          1e-5 * whole.results[i]!.gradNorm,
        );
      });
      const worst = Math.max(
        ...split.final.map((w, i) =>
          maxAbsDiff(
            w.filter((_, j) => !noise[i]![j]),
            whole.final[i]!.filter((_, j) => !noise[i]![j]),
          ),
        ),
      );
      expect(worst).toBeLessThanOrEqual(1e-5 * largest);
    }
    expect(whole.counts[2]).toBe(whole.counts[0]);
    disposeBatch(batch);
  });

  it('a forward that draws random numbers in training mode cannot be split, and says so', () => {
    const model = new MultiRoiNet(CONFIG);
    const batch = makeBatch();
    const noisy = {
      apply: (b: MrnBatch, o: { training: boolean }) => {
        const out = model.apply(b, o);
        const logits = tf.tidy(() => tf.add(out.logits, tf.randomNormal(out.logits.shape)));
        out.logits.dispose();
        return { ...out, logits: logits as tf.Tensor2D };
      },
    };
    const before = tf.memory().numTensors;
    expectMrnError(
      () => objectiveGradients(noisy, batch, model.trainableVariables(), {}, 2),
      'E_INTERNAL',
      /different logits when recomputed/,
    );
    expect(tf.memory().numTensors).toBe(before);
    disposeBatch(batch);
    model.dispose();
  });

  it('micro-batch size: explicit, from a memory estimate, or the whole batch', () => {
    expect(resolveMicroBatchSize(8, {})).toBe(8);
    expect(resolveMicroBatchSize(8, { microBatchSize: 3 })).toBe(3);
    expect(resolveMicroBatchSize(8, { microBatchSize: 32 })).toBe(8);
    // Off the wasm backend nothing limits the heap: the batch stays whole.
    expect(resolveMicroBatchSize(8, { stepMemory: { bytesPerSample: 2 ** 40, fixedBytes: 0 } })).toBe(8);
    expectMrnError(() => resolveMicroBatchSize(8, { microBatchSize: 0 }), 'E_CONFIG', /positive integer/);
  });

  it('step memory: one and two patients split into per-patient and fixed bytes, nothing leaked', async () => {
    const model = new MultiRoiNet(CONFIG);
    const batch = makeBatch();
    const before = tf.memory().numTensors;
    const mem = await measureTrainStepMemory(model, batch);
    expect(tf.memory().numTensors).toBe(before);
    expect(mem.bytesPerSample).toBeGreaterThan(0);
    expect(mem.fixedBytes).toBeGreaterThan(0);
    // A one-patient batch can only be measured at one point: everything counts per patient.
    const one = sliceBatch(batch, 0, 1, true);
    const single = await measureTrainStepMemory(model, one);
    disposeSlicedBatch(one);
    expect(single.fixedBytes).toBe(0);
    expect(single.bytesPerSample).toBeGreaterThan(mem.bytesPerSample);
    expect(tf.memory().numTensors).toBe(before);
    disposeBatch(batch);
    model.dispose();
  });

  it('on wasm the micro-batch is planned for TRAIN_STEP_HEAP_SAFETY of the free heap', async () => {
    await selectBackend({ backend: 'wasm', optimizeWasm: false });
    try {
      const bytesPerSample = 2 ** 28;
      const free = WASM_HEAP_LIMIT_BYTES - tf.memory().numBytes;
      const expected = Math.floor((free * TRAIN_STEP_HEAP_SAFETY - 2 ** 26) / bytesPerSample);
      expect(expected).toBeGreaterThan(Math.floor((free * 0.6 - 2 ** 26) / bytesPerSample));
      expect(resolveMicroBatchSize(32, { stepMemory: { bytesPerSample, fixedBytes: 2 ** 26 } })).toBe(
        expected,
      );
    } finally {
      await selectBackend({ backend: 'cpu' });
    }
  });
});
