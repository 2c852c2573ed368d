import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend.js';
import { MultiRoiNet } from '../../src/layers/multi-roi-net.js';
import type { MrnBatch } from '../../src/layers/types.js';
import { mrnObjective } from '../../src/losses/objective.js';
import { createRng } from '../../src/rng.js';
import {
  earlyBackwardRelease,
  setEarlyBackwardRelease,
  useEarlyBackwardRelease,
} from '../../src/train/backward-memory.js';
import { disposeBatch } from '../../src/train/feature-batch.js';
import { trainStep } from '../../src/train/train-step.js';

// A tiny cached-feature model (S = 28, 2 x 2 tokens, backbone width 8) with every objective term on.
const ROIS = [
  { id: 'roi-a', numClasses: 2, slices: 3 },
  { id: 'roi-b', numClasses: 3, slices: 4 },
];
const CONFIG = {
  rois: ROIS,
  preset: 'mrn-tiny' as const,
  sliceSize: 28,
  backboneDim: 8,
  patchSize: 14,
  seed: 5,
};
const LABELS = [0, 1, 0, 1];

function makeBatch(): MrnBatch {
  const rng = createRng(11);
  const b = LABELS.length;
  const rois: MrnBatch['rois'] = {};
  for (const roi of ROIS) {
    const d = roi.slices;
    const normal = (n: number) => Float32Array.from({ length: n }, () => rng.normal(0, 1));
    rois[roi.id] = {
      patch: tf.tensor4d(normal(b * d * 4 * 8), [b, d, 4, 8]),
      cls: tf.tensor3d(normal(b * d * 8), [b, d, 8]),
      valid: tf.ones([b, d]) as tf.Tensor2D,
      masks: tf.tensor4d(
        Int32Array.from({ length: b * d * 28 * 28 }, () => rng.int(0, roi.numClasses - 1)),
        [b, d, 28, 28],
        'int32',
      ),
    };
  }
  return { rois, labels: tf.tensor1d(LABELS, 'int32') };
}

const WEIGHTS = { lambdaSeg: 0.7, lambdaCon: 0.5, includePatientEmbedding: true };

/** The objective's gradients and the peak bytes of computing them, with early release on or off. */
async function gradientsAndPeak(early: boolean): Promise<{ grads: Float32Array[]; peak: number }> {
  setEarlyBackwardRelease(early);
  const model = new MultiRoiNet(CONFIG);
  const batch = makeBatch();
  const vars = model.trainableVariables();
  tf.dispose(tf.tidy(() => mrnObjective(model.apply(batch, { training: true }), batch, WEIGHTS).total));
  const before = tf.memory().numTensors;
  let grads: Float32Array[] = [];
  const info = await tf.profile(() => {
    const r = tf.variableGrads(
      () => mrnObjective(model.apply(batch, { training: true }), batch, WEIGHTS).total as tf.Scalar,
      vars,
    );
    grads = Object.keys(r.grads)
      .sort()
      .map((n) => r.grads[n]!.dataSync() as Float32Array);
    tf.dispose([r.value, ...Object.values(r.grads)]);
  });
  expect(tf.memory().numTensors).toBe(before);
  disposeBatch(batch);
  model.dispose();
  return { grads, peak: info.peakBytes };
}

beforeAll(async () => {
  await selectBackend({ backend: 'cpu' });
});
afterAll(() => {
  setEarlyBackwardRelease(true);
});

describe('early release of backward-pass memory', () => {
  it('gives bit-identical gradients at a lower peak, and leaks nothing', async () => {
    const off = await gradientsAndPeak(false);
    const on = await gradientsAndPeak(true);
    expect(on.grads.length).toBe(off.grads.length);
    expect(on.grads.length).toBeGreaterThan(10);
    on.grads.forEach((g, i) => expect(Array.from(g)).toEqual(Array.from(off.grads[i]!)));
    // On this tiny model the peak drops by about a third; on the paper-scale heads by half (README).
    expect(on.peak).toBeLessThan(off.peak * 0.85);
  });

  it('keeps a gradient that passes dy through unchanged, and the dy the caller passed', () => {
    setEarlyBackwardRelease(true);
    const passThrough = tf.customGrad(((x: tf.Tensor) => ({
      value: tf.mul(x, 3),
      gradFunc: (dy: tf.Tensor) => dy,
    })) as never) as (x: tf.Tensor) => tf.Tensor;
    const x = tf.tensor1d([1, 2, 3]);
    const dy = tf.tensor1d([1, 10, 100]);
    const before = tf.memory().numTensors;
    const [dx] = tf.grads((a: tf.Tensor) => tf.square(passThrough(tf.exp(a))))([x], dy);
    // d/da (exp(a))^2 through a pass-through gradient: dy * 2 * exp(a) * exp(a).
    const expected = [1, 2, 3].map((v, i) => [1, 10, 100][i]! * 2 * Math.exp(v) * 3 * Math.exp(v));
    expect(Array.from(dx!.dataSync())).toEqual(expected.map((v) => expect.closeTo(v, 1)));
    expect(dy.isDisposed).toBe(false);
    expect(Array.from(dy.dataSync())).toEqual([1, 10, 100]);
    dx!.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, dy]);
  });

  it('frees what Add, Sub, Sum and Reshape save only for shapes, with exact broadcast gradients', () => {
    const a = tf.tensor2d([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    const bias = tf.tensor1d([0.5, -1, 2]);
    const f = (x: tf.Tensor, b: tf.Tensor) => {
      const before = tf.memory().numTensors;
      const y = tf.add(x, b);
      // The output only: without early release the node also keeps clones of both inputs.
      tensorsAddedByAdd = tf.memory().numTensors - before;
      return tf.sum(tf.square(tf.reshape(tf.sub(y, tf.sum(y, 0)), [6])));
    };
    let tensorsAddedByAdd = 0;
    const gradients = (early: boolean) => {
      setEarlyBackwardRelease(early);
      const [da, db] = tf.grads(f)([a, bias]);
      const out = {
        added: tensorsAddedByAdd,
        da: Array.from(da!.dataSync()),
        db: Array.from(db!.dataSync()),
      };
      tf.dispose([da!, db!]);
      return out;
    };
    const before = tf.memory().numTensors;
    const off = gradients(false);
    const on = gradients(true);
    expect(off.added).toBe(3);
    expect(on.added).toBe(1);
    expect(on.da).toEqual(off.da);
    expect(on.db).toEqual(off.db);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([a, bias]);
  });

  it('keeps the saved tensors of a shape-only kernel whose gradient was re-registered', () => {
    setEarlyBackwardRelease(true);
    const stock = tf.getGradient('Add')!;
    // A (deliberately odd) Add gradient that reads its saved inputs' values: d/da = dy * b.
    tf.registerGradient({
      kernelName: 'Add',
      inputsToSave: ['a', 'b'],
      gradFunc: (dy, saved) => {
        const [sa, sb] = saved as tf.Tensor[];
        return { a: () => tf.mul(dy as tf.Tensor, sb!), b: () => tf.mul(dy as tf.Tensor, sa!) };
      },
    });
    try {
      const a = tf.tensor1d([1, 2]);
      const b = tf.tensor1d([3, 5]);
      // The operands are intermediates freed by the inner tidy: the node's saved clones hold the only
      // references to their data, so freeing them early would break this gradient.
      const [da] = tf.grads((x: tf.Tensor, y: tf.Tensor) =>
        tf.sum(tf.tidy(() => tf.add(tf.mul(x, 1), tf.mul(y, 1)))),
      )([a, b]);
      expect(Array.from(da!.dataSync())).toEqual([3, 5]);
      tf.dispose([a, b, da!]);
    } finally {
      tf.registerGradient(stock);
    }
  });

  it('leaves higher-order gradients exact', () => {
    setEarlyBackwardRelease(true);
    const x = tf.tensor1d([0.5, 2]);
    const second = tf.grad(tf.grad((a: tf.Tensor) => tf.sum(tf.pow(a, 3))));
    const d2 = second(x);
    expect(Array.from(d2.dataSync())).toEqual([3, 12]); // 6x
    tf.dispose([x, d2]);
  });

  it('stays off when switched off, even through trainStep; mrn switches it on by default', () => {
    expect(setEarlyBackwardRelease(false)).toBe(false);
    const model = new MultiRoiNet(CONFIG);
    const batch = makeBatch();
    const optimizer = tf.train.adam(1e-3);
    trainStep(model, optimizer, batch);
    expect(earlyBackwardRelease()).toBe(false);
    useEarlyBackwardRelease();
    expect(earlyBackwardRelease()).toBe(false);
    expect(setEarlyBackwardRelease(true)).toBe(true);
    trainStep(model, optimizer, batch);
    expect(earlyBackwardRelease()).toBe(true);
    optimizer.dispose();
    disposeBatch(batch);
    model.dispose();
  });
});
