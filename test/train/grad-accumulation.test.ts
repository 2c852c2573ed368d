import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend.js';
import { MrnError } from '../../src/errors.js';
import {
  accumulateGradients,
  measureStepMemory,
  pickMicroBatchSize,
  trainStepAccumulated,
} from '../../src/train/grad-accumulation.js';
import { WASM_HEAP_LIMIT_BYTES, wasmHeapStats } from '../../src/wasm/heap.js';
import { lcgValues } from '../helpers/arrays.js';

const BATCH = 8;
const IN = 12;
const HIDDEN = 16;
const CLASSES = 3;

describe('gradient accumulation', () => {
  let x: tf.Tensor2D;
  let labels: tf.Tensor2D;
  let w1: tf.Variable;
  let w2: tf.Variable;

  // A two-layer classifier whose batch loss is a per-sample mean (cross-entropy).
  const meanLoss = (start: number, end: number): tf.Scalar =>
    tf.tidy(() => {
      const xs = x.slice([start, 0], [end - start, IN]);
      const ys = labels.slice([start, 0], [end - start, CLASSES]);
      const logits = tf.matMul(tf.relu(tf.matMul(xs, w1)), w2);
      return tf.losses.softmaxCrossEntropy(ys, logits) as tf.Scalar;
    });

  beforeAll(async () => {
    await selectBackend({ backend: 'wasm', optimizeWasm: { threads: 1 } });
    x = tf.tensor2d(lcgValues(BATCH * IN, 1), [BATCH, IN]);
    labels = tf.oneHot(tf.tensor1d([0, 1, 2, 0, 1, 2, 2, 1], 'int32'), CLASSES).toFloat() as tf.Tensor2D;
    w1 = tf.variable(tf.tensor2d(lcgValues(IN * HIDDEN, 2), [IN, HIDDEN]), true, 'w1');
    w2 = tf.variable(tf.tensor2d(lcgValues(HIDDEN * CLASSES, 3), [HIDDEN, CLASSES]), true, 'w2');
  });

  it.each([1, 3, 5, 8, 20])('micro-batches of %i give the full batch loss and gradients', (micro) => {
    const before = tf.memory().numTensors;
    const full = tf.variableGrads(() => meanLoss(0, BATCH), [w1, w2]);
    const acc = accumulateGradients(meanLoss, BATCH, micro, [w1, w2]);
    expect(acc.value.dataSync()[0]).toBeCloseTo(full.value.dataSync()[0], 5);
    for (const name of ['w1', 'w2']) {
      const want = full.grads[name].dataSync();
      const got = acc.grads[name].dataSync();
      const scale = Math.max(...Array.from(want, Math.abs));
      const diff = Math.max(...Array.from(want, (v, i) => Math.abs(v - got[i])));
      expect(diff / scale).toBeLessThan(1e-5);
    }
    tf.dispose([full.value, acc.value, ...Object.values(full.grads), ...Object.values(acc.grads)]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('trainStepAccumulated updates like a full-batch step and leaks nothing over 50 steps', () => {
    const start = [w1.clone(), w2.clone()];
    const fullOpt = tf.train.sgd(0.1);
    const fullLoss = tf.tidy(() => fullOpt.minimize(() => meanLoss(0, BATCH), true, [w1, w2])!.dataSync()[0]);
    const afterFull = [w1.clone(), w2.clone()];
    w1.assign(start[0]);
    w2.assign(start[1]);
    const accOpt = tf.train.sgd(0.1);
    const accLoss = trainStepAccumulated(accOpt, meanLoss, BATCH, 3, [w1, w2]);
    expect(accLoss).toBeCloseTo(fullLoss, 5);
    for (const [v, want] of [
      [w1, afterFull[0]],
      [w2, afterFull[1]],
    ] as const) {
      const d = tf.tidy(() => tf.max(tf.abs(tf.sub(v, want))).dataSync()[0]);
      expect(d).toBeLessThan(1e-6);
    }
    tf.dispose([...start, ...afterFull]);
    const tensors = tf.memory().numTensors;
    const heap = wasmHeapStats();
    for (let i = 0; i < 50; i++) trainStepAccumulated(accOpt, meanLoss, BATCH, 3, [w1, w2]);
    expect(tf.memory().numTensors).toBe(tensors);
    expect(wasmHeapStats()?.heapBytes).toBe(heap?.heapBytes);
    fullOpt.dispose();
    accOpt.dispose();
  });

  it('measures per-sample and fixed peak memory of a step', async () => {
    const m = await measureStepMemory(meanLoss, [w1, w2]);
    // One more sample adds at least its input row, activations and logits (float32).
    expect(m.bytesPerSample).toBeGreaterThanOrEqual(4 * (IN + HIDDEN + CLASSES));
    // The gradients of both weight matrices exist at the peak whatever the batch size.
    expect(m.fixedBytes).toBeGreaterThanOrEqual(4 * (IN * HIDDEN + HIDDEN * CLASSES));
    // Tensors alive before the measurement are not part of either: pickMicroBatchSize subtracts them
    // from the heap itself (they used to be counted twice).
    const ballast = tf.zeros([4 << 20]); // 16 MiB
    const withBallast = await measureStepMemory(meanLoss, [w1, w2]);
    ballast.dispose();
    expect(withBallast.fixedBytes).toBeLessThan(m.fixedBytes + (1 << 20));
    expect(withBallast.bytesPerSample).toBe(m.bytesPerSample);
  });

  it('picks the micro-batch size from the wasm heap limit', () => {
    const heap = wasmHeapStats();
    expect(heap?.limitBytes).toBe(WASM_HEAP_LIMIT_BYTES);
    // ViT-S/14 at 224 px, forward+backward: ~0.9 GB per sample at peak (batch 4 peaks near 3.8 GB).
    const perSample = 0.9e9;
    const micro = pickMicroBatchSize({ batchSize: 8, bytesPerSample: perSample, fixedBytes: 0.2e9 });
    const expected = Math.floor(
      ((WASM_HEAP_LIMIT_BYTES - (heap?.tensorBytes ?? 0)) * 0.6 - 0.2e9) / perSample,
    );
    expect(micro).toBe(expected);
    expect(micro).toBeLessThan(8);
    expect(pickMicroBatchSize({ batchSize: 4, bytesPerSample: 1e6 })).toBe(4);
    expect(pickMicroBatchSize({ batchSize: 64, bytesPerSample: 100, availableBytes: 1000, safety: 1 })).toBe(
      10,
    );
  });

  it('rejects bad arguments and impossible budgets with MrnErrors', () => {
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(MrnError);
        return (e as MrnError).code;
      }
      return 'no error';
    };
    expect(code(() => accumulateGradients(meanLoss, 0, 1))).toBe('E_INVALID_ARGUMENT');
    expect(code(() => accumulateGradients(meanLoss, 8, 2.5))).toBe('E_INVALID_ARGUMENT');
    expect(code(() => pickMicroBatchSize({ batchSize: 8, bytesPerSample: 0 }))).toBe('E_INVALID_ARGUMENT');
    expect(code(() => pickMicroBatchSize({ batchSize: 8, bytesPerSample: 10, safety: 1.5 }))).toBe(
      'E_INVALID_ARGUMENT',
    );
    expect(code(() => pickMicroBatchSize({ batchSize: 8, bytesPerSample: 5e9 }))).toBe('E_MEMORY');
  });
});
