/**
 * mrn's backward kernels for the wasm backend (copy-free Identity, leading-axes Sum) and the fused
 * LayerNorm gradient: agreement with the stock wasm kernels and with the cpu backend within 1e-5 of the
 * largest magnitude, values and gradients, over a range of shapes; no tensor or heap growth over
 * training steps with everything on.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend.js';
import {
  DenseBlock,
  LayerNormBlock,
  layerNorm,
  normalisedDense,
  setFastBlockGradients,
} from '../../src/layers/blocks.js';
import { MultiRoiNet } from '../../src/layers/multi-roi-net.js';
import { trainStep } from '../../src/train/train-step.js';
import {
  registerWasmBackwardKernels,
  unregisterWasmBackwardKernels,
} from '../../src/wasm/backward-kernels.js';
import { wasmHeapStats } from '../../src/wasm/heap.js';
import {
  isSharedIdentityRegistered,
  registerSharedIdentity,
  sharedIdentityCount,
  unregisterSharedIdentity,
} from '../../src/wasm/identity.js';
import {
  fastSumStats,
  isFastSumRegistered,
  leadingReduction,
  registerFastSum,
  unregisterFastSum,
} from '../../src/wasm/sum.js';
import { lcgValues } from '../helpers/arrays.js';
import type { MrnBatch, RoiFeatureInput, RoiImageInput } from '../../src/layers/types.js';
import { randomMasks, TINY_CONFIG, tinyImageBatch, tinyLoss } from '../layers/helpers/tiny-model.js';

function values(shape: number[], seed: number): Float32Array {
  return lcgValues(
    shape.reduce((p, d) => p * d, 1),
    seed,
  );
}

function maxRelError(got: Float32Array, want: Float32Array): number {
  expect(got.length).toBe(want.length);
  let scale = 0;
  let diff = 0;
  for (let i = 0; i < want.length; i++) {
    scale = Math.max(scale, Math.abs(want[i]!));
    diff = Math.max(diff, Math.abs(got[i]! - want[i]!));
  }
  return diff / Math.max(scale, 1e-30);
}

/** [x shape, axes, keepDims]: leading, middle and whole reductions (fast path), and stock cases. */
type SumCase = [number[], number[] | null, boolean];
const SUM_CASES: SumCase[] = [
  [[300, 70], [0], false], // bias gradient of a dense layer
  [[3, 50, 40], [0, 1], false], // bias gradient of a rank-3 dense layer
  [[3, 50, 40], [0, 1], true],
  [[4, 60, 33], [1], false], // middle axis, several outer items
  [[2, 5, 30, 24], [0, 1, 2], false], // LayerNorm gamma/beta of [B, D, N, E] tokens
  [[2, 5, 30, 24], [1, 2], true],
  [[1000, 17], [0], false], // rows just over the loop's minimum width
  [[2, 3, 40, 5], [2], false], // narrow rows: stock
  [[50, 80], [1], false], // trailing axis: stock
  [[6, 20, 30], [0, 2], false], // non-contiguous: stock
  [[20, 30], null, false], // every axis: stock
];

/** Sum values, and the gradient of sum(w * (x + bias)) w.r.t. a broadcast bias (a leading-axes Sum). */
function runSum([shape, axes, keepDims]: SumCase, seed: number): Float32Array[] {
  return tf.tidy(() => {
    const x = tf.tensor(values(shape, seed), shape);
    const out = tf.sum(x, axes ?? undefined, keepDims);
    const bias = tf.tensor(values(shape.slice(-1), seed + 1), shape.slice(-1));
    const w = tf.tensor(values(shape, seed + 2), shape);
    const dBias = tf.grad((b: tf.Tensor) => tf.sum(tf.mul(tf.add(x, b), w)))(bias);
    return [out.dataSync() as Float32Array, dBias.dataSync() as Float32Array];
  });
}

/** Cached-feature inputs (16 tokens of width 16 per slice) with masks for the tiny model's ROIs. */
function tinyFeatureBatch(): MrnBatch {
  const images = tinyImageBatch([0, 1]);
  const features: MrnBatch = { rois: {}, labels: images.labels };
  Object.entries(images.rois).forEach(([id, roi], i) => {
    const [b, d] = roi.valid.shape;
    features.rois[id] = {
      patch: tf.tensor4d(values([b, d, 16, 16], 7 + i), [b, d, 16, 16]),
      cls: tf.tensor3d(values([b, d, 16], 8 + i), [b, d, 16]),
      valid: roi.valid,
      masks: randomMasks(b, d, 28, TINY_CONFIG.rois!.find((r) => r.id === id)!.numClasses, 9 + i),
    };
    (roi as RoiImageInput).slices.dispose();
  });
  return features;
}

function disposeFeatureBatch(batch: MrnBatch): void {
  for (const roi of Object.values(batch.rois) as RoiFeatureInput[]) {
    tf.dispose([roi.patch, roi.cls, roi.valid, roi.masks!]);
  }
  batch.labels!.dispose();
}

const LN_SHAPES: number[][] = [
  [7, 24],
  [3, 11, 40],
  [2, 3, 17, 32],
];

/** LayerNorm values and gradients (x, gamma, beta) of sum(w * LN(x)). */
function runLayerNorm(shape: number[], seed: number): Float32Array[] {
  return tf.tidy(() => {
    const dim = shape[shape.length - 1]!;
    // Offset and scaled inputs, so the normalisation really does something.
    const x = tf.add(tf.mul(tf.tensor(values(shape, seed), shape), 3), 0.5);
    const gamma = tf.add(tf.tensor(values([dim], seed + 1), [dim]), 1);
    const beta = tf.tensor(values([dim], seed + 2), [dim]);
    const w = tf.tensor(values(shape, seed + 3), shape);
    const f = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(layerNorm(a, g, b), w));
    const [dx, dg, db] = tf.grads(f)([x, gamma, beta]);
    return [layerNorm(x, gamma, beta), dx!, dg!, db!].map((t) => t.dataSync() as Float32Array);
  });
}

describe('wasm backward kernels', () => {
  const cpu: { sum: Float32Array[][]; ln: Float32Array[][]; lnAutodiff: Float32Array[][] } = {
    sum: [],
    ln: [],
    lnAutodiff: [],
  };
  const stock: typeof cpu = { sum: [], ln: [], lnAutodiff: [] };
  const fast: typeof cpu = { sum: [], ln: [], lnAutodiff: [] };

  function runAll(into: typeof cpu): void {
    SUM_CASES.forEach((c, i) => into.sum.push(runSum(c, 11 * i + 1)));
    setFastBlockGradients(true);
    LN_SHAPES.forEach((s, i) => into.ln.push(runLayerNorm(s, 5 * i + 2)));
    setFastBlockGradients(false);
    LN_SHAPES.forEach((s, i) => into.lnAutodiff.push(runLayerNorm(s, 5 * i + 2)));
    setFastBlockGradients(true);
  }

  beforeAll(async () => {
    await tf.setBackend('cpu');
    runAll(cpu);
    await selectBackend({ backend: 'wasm' });
    unregisterWasmBackwardKernels();
    runAll(stock);
    // minElements 1: every case the fast Sum accepts really takes its path.
    expect(registerWasmBackwardKernels({ sum: { minElements: 1 } })).toEqual({ identity: true, sum: true });
    runAll(fast);
  });

  afterAll(() => {
    unregisterWasmBackwardKernels();
    setFastBlockGradients(true);
  });

  it.each(SUM_CASES.map((c, i) => [i, JSON.stringify(c)] as const))(
    'Sum case %i %s: values and broadcast gradient agree with stock wasm and cpu',
    (i) => {
      for (let k = 0; k < 2; k++) {
        expect(maxRelError(fast.sum[i]![k]!, stock.sum[i]![k]!)).toBeLessThan(1e-5);
        expect(maxRelError(fast.sum[i]![k]!, cpu.sum[i]![k]!)).toBeLessThan(1e-5);
      }
    },
  );

  it('routes leading and middle reductions to the loop, the rest to the stock kernel', () => {
    expect(isFastSumRegistered()).toBe(true);
    expect(leadingReduction([300, 70], [0])).toEqual([1, 300, 70]);
    expect(leadingReduction([4, 60, 33], [1])).toEqual([4, 60, 33]);
    expect(leadingReduction([2, 5, 30, 24], [2, 1, 0])).toEqual([1, 300, 24]);
    expect(leadingReduction([50, 80], [1])).toBeNull();
    expect(leadingReduction([6, 20, 30], [0, 2])).toBeNull();
    const before = fastSumStats();
    runSum(SUM_CASES[0]!, 1);
    runSum(SUM_CASES[8]!, 1);
    const after = fastSumStats();
    // [300, 70] over axis 0 and its bias gradient, and the bias gradient of [50, 80]
    expect(after.loop - before.loop).toBe(3);
    expect(after.stock - before.stock).toBeGreaterThanOrEqual(2);
  });

  it.each(LN_SHAPES.map((s, i) => [i, JSON.stringify(s)] as const))(
    'fused LayerNorm %i %s: values and gradients equal autodiff, stock wasm and cpu',
    (i) => {
      for (let k = 0; k < 4; k++) {
        const got = fast.ln[i]![k]!;
        expect(maxRelError(got, fast.lnAutodiff[i]![k]!)).toBeLessThan(1e-5);
        expect(maxRelError(got, stock.lnAutodiff[i]![k]!)).toBeLessThan(1e-5);
        expect(maxRelError(got, cpu.lnAutodiff[i]![k]!)).toBeLessThan(1e-5);
        expect(maxRelError(cpu.ln[i]![k]!, cpu.lnAutodiff[i]![k]!)).toBeLessThan(1e-5);
      }
    },
  );

  it('a tiny MultiRoiNet has the same gradients with fast and plain blocks, on wasm and cpu', async () => {
    const model = new MultiRoiNet({ ...TINY_CONFIG, backboneDim: 16, patchSize: 7 });
    const weights = model.namedWeights().filter((w) => w.trainable);
    const grads = (features: MrnBatch, fastBlocks: boolean): Float32Array[] => {
      setFastBlockGradients(fastBlocks);
      const { value, grads: g } = tf.variableGrads(
        () => tinyLoss(model.apply(features, { training: true }), features),
        weights.map((w) => w.variable.read() as tf.Variable),
      );
      const out = weights.map((w) => g[(w.variable.read() as tf.Variable).name]!.dataSync() as Float32Array);
      tf.dispose([value, ...Object.values(g)]);
      setFastBlockGradients(true);
      return out;
    };
    const wasmFeatures = tinyFeatureBatch();
    const onWasm = [grads(wasmFeatures, true), grads(wasmFeatures, false)];
    disposeFeatureBatch(wasmFeatures);
    await tf.setBackend('cpu');
    const cpuFeatures = tinyFeatureBatch();
    const onCpu = [grads(cpuFeatures, true), grads(cpuFeatures, false)];
    disposeFeatureBatch(cpuFeatures);
    await selectBackend({ backend: 'wasm' });
    weights.forEach((w, i) => {
      const want = onCpu[1]![i]!;
      for (const got of [onWasm[0]![i]!, onWasm[1]![i]!, onCpu[0]![i]!]) {
        expect(maxRelError(got, want), w.path).toBeLessThan(1e-5);
      }
    });
    model.dispose();
  });

  it('normalisedDense: values and gradients (input included) equal the plain blocks, on wasm and cpu', async () => {
    const results: Float32Array[][] = [];
    for (const backend of ['wasm', 'cpu']) {
      if (backend === 'cpu') await tf.setBackend('cpu');
      let seed = 40;
      const created: tf.LayerVariable[] = [];
      // Non-trivial gamma, beta and bias, so every term of the closed-form gradients counts.
      const params = (path: string, shape: number[]) => {
        const v = new tf.LayerVariable(tf.tensor(values(shape, seed++), shape), 'float32', path, true);
        created.push(v);
        return v;
      };
      const norm = new LayerNormBlock(params, 24);
      const dense = new DenseBlock(params, 24, 10);
      for (const fast of [true, false]) {
        setFastBlockGradients(fast);
        results.push(
          tf.tidy(() => {
            const x = tf.add(tf.mul(tf.tensor(values([2, 3, 7, 24], 9), [2, 3, 7, 24]), 2), 0.3);
            const w = tf.tensor(values([2, 3, 7, 10], 10), [2, 3, 7, 10]);
            const vars = created.map((v) => v.read() as tf.Variable);
            const f = (...inputs: tf.Tensor[]) => tf.sum(tf.mul(normalisedDense(inputs[0]!, norm, dense), w));
            const { value, grads } = tf.variableGrads(() => f(x) as tf.Scalar, vars);
            const dx = tf.grad((xi: tf.Tensor) => f(xi))(x);
            const y = normalisedDense(x, norm, dense);
            return [y, value, dx, ...vars.map((v) => grads[v.name]!)].map(
              (t) => t.dataSync() as Float32Array,
            );
          }),
        );
        setFastBlockGradients(true);
      }
      created.forEach((v) => v.dispose());
    }
    await selectBackend({ backend: 'wasm' });
    const want = results[3]!; // cpu, plain blocks
    for (const got of results.slice(0, 3)) {
      got.forEach((g, k) => expect(maxRelError(g, want[k]!), `output ${k}`).toBeLessThan(1e-5));
    }
  });

  it('Identity shares the buffer: clones read the same values and outlive the original', () => {
    expect(isSharedIdentityRegistered()).toBe(true);
    const x = tf.tensor(values([5, 7], 3), [5, 7]);
    const want = x.dataSync().slice();
    const count = sharedIdentityCount();
    const y = tf.clone(x);
    expect(sharedIdentityCount()).toBe(count + 1);
    x.dispose();
    expect(y.dataSync()).toEqual(want);
    // A variable assigned after cloning swaps its buffer; the clone keeps the old values.
    const v = tf.variable(y);
    const snapshot = tf.clone(v);
    v.assign(tf.zerosLike(y));
    expect(snapshot.dataSync()).toEqual(want);
    expect(Array.from(v.dataSync())).toEqual(Array.from(new Float32Array(35)));
    // Strings stay on the stock kernel.
    const s = tf.tensor(['a', 'b']);
    expect(tf.clone(s).dataSync()).toEqual(['a', 'b']);
    tf.dispose([y, v, snapshot, s]);
  });

  it('a MultiRoiNet training step leaks no tensors and keeps the heap flat over 20 steps', () => {
    registerWasmBackwardKernels();
    const model = new MultiRoiNet({ ...TINY_CONFIG, backboneDim: 16, patchSize: 7 });
    const features = tinyFeatureBatch();
    const opt = tf.train.adam(1e-3);
    for (let i = 0; i < 3; i++) trainStep(model, opt, features);
    const tensors = tf.memory().numTensors;
    const heap = wasmHeapStats()!;
    for (let i = 0; i < 20; i++) trainStep(model, opt, features);
    expect(tf.memory().numTensors).toBe(tensors);
    const after = wasmHeapStats()!;
    expect(after.tensorBytes).toBe(heap.tensorBytes);
    expect(after.heapBytes).toBe(heap.heapBytes);
    disposeFeatureBatch(features);
    opt.dispose();
    model.dispose();
  });

  it('unregistering restores the stock kernels', () => {
    unregisterFastSum();
    unregisterSharedIdentity();
    expect(isFastSumRegistered()).toBe(false);
    expect(isSharedIdentityRegistered()).toBe(false);
    const again = runSum(SUM_CASES[0]!, 1);
    expect(again[0]).toEqual(stock.sum[0]![0]);
    expect(registerFastSum()).toBe(true);
    expect(registerSharedIdentity()).toBe(true);
  });
});
