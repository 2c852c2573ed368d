import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend.js';
import {
  fastBatchMatMulStats,
  isFastBatchMatMulRegistered,
  registerFastBatchMatMul,
  unregisterFastBatchMatMul,
} from '../../src/wasm/batch-matmul.js';
import { wasmHeapStats } from '../../src/wasm/heap.js';
import { lcgValues } from '../helpers/arrays.js';

/** [a shape, b shape, transposeA, transposeB] */
type Case = [number[], number[], boolean, boolean];

// Shapes as the layers produce them: rank 2 (dense), rank 3 with batch on one or both sides
// (tokens x weights, attention per slice), rank 4 (attention per head), each with every transpose
// combination, and sizes that are not multiples of XNNPACK's tiles.
const SHAPES: [number[], number[]][] = [
  [
    [37, 24],
    [24, 19],
  ],
  [
    [3, 29, 16],
    [16, 21],
  ],
  [
    [29, 16],
    [4, 16, 21],
  ],
  [
    [5, 17, 12],
    [5, 12, 23],
  ],
  [
    [2, 3, 13, 8],
    [2, 3, 8, 13],
  ],
  [
    [1, 40, 33],
    [1, 33, 9],
  ],
  [
    [6, 1, 32],
    [32, 48],
  ],
  // Inner sizes past the stock loop's 48-wide blocks, so the summation orders really differ.
  [
    [150, 100],
    [100, 90],
  ],
  [
    [2, 3, 70, 130],
    [2, 3, 130, 65],
  ],
];

function casesFor([a, b]: [number[], number[]]): Case[] {
  const swapLast = (s: number[]) => [...s.slice(0, -2), s[s.length - 1], s[s.length - 2]];
  const out: Case[] = [];
  for (const ta of [false, true]) {
    for (const tb of [false, true]) out.push([ta ? swapLast(a) : a, tb ? swapLast(b) : b, ta, tb]);
  }
  return out;
}
const CASES: Case[] = SHAPES.flatMap(casesFor);

function values(shape: number[], seed: number): Float32Array {
  return lcgValues(
    shape.reduce((p, d) => p * d, 1),
    seed,
  );
}

interface Result {
  out: Float32Array;
  da: Float32Array;
  db: Float32Array;
}

/** Forward and both gradients of sum(matMul(a, b) * w) on the active backend. */
function run([sa, sb, ta, tb]: Case, seed: number): Result {
  const a = tf.tensor(values(sa, seed), sa);
  const b = tf.tensor(values(sb, seed + 1), sb);
  const out = tf.matMul(a, b, ta, tb);
  const w = tf.tensor(values(out.shape, seed + 2), out.shape);
  // tfjs's BatchMatMul gradient does not sum over broadcast batch dims (it fails on every backend),
  // so only operands carrying the full batch are differentiated.
  const full = (t: tf.Tensor) =>
    t.size / (t.shape[t.rank - 1] * t.shape[t.rank - 2]) ===
    out.size / (out.shape[out.rank - 1] * out.shape[out.rank - 2]);
  const da = full(a)
    ? tf.grad((x: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x, b, ta, tb), w)))(a)
    : tf.zeros([1]);
  const db = full(b)
    ? tf.grad((y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(a, y, ta, tb), w)))(b)
    : tf.zeros([1]);
  const result = {
    out: out.dataSync() as Float32Array,
    da: da.dataSync() as Float32Array,
    db: db.dataSync() as Float32Array,
  };
  tf.dispose([a, b, out, w, da, db]);
  return result;
}

function maxRelError(got: Float32Array, want: Float32Array): number {
  expect(got.length).toBe(want.length);
  let scale = 0;
  let diff = 0;
  for (let i = 0; i < want.length; i++) {
    scale = Math.max(scale, Math.abs(want[i]));
    diff = Math.max(diff, Math.abs(got[i] - want[i]));
  }
  return diff / Math.max(scale, 1e-30);
}

describe('fast wasm BatchMatMul', () => {
  const fast: Result[] = [];
  const stock: Result[] = [];
  const cpu: Result[] = [];

  beforeAll(async () => {
    await tf.setBackend('cpu');
    CASES.forEach((c, i) => cpu.push(run(c, 7 * i + 1)));
    await selectBackend({ backend: 'wasm' });
    unregisterFastBatchMatMul();
    CASES.forEach((c, i) => stock.push(run(c, 7 * i + 1)));
    // minMacsPerItem 1: route even the tiny products through XNNPACK, so every case tests the new path.
    expect(registerFastBatchMatMul({ minMacsPerItem: 1 })).toBe(true);
    CASES.forEach((c, i) => fast.push(run(c, 7 * i + 1)));
  });

  afterAll(() => unregisterFastBatchMatMul());

  it.each(CASES.map((c, i) => [i, JSON.stringify(c)] as const))(
    'case %i %s: forward and gradients agree with the stock kernel and with cpu',
    (i) => {
      for (const key of ['out', 'da', 'db'] as const) {
        expect(maxRelError(fast[i][key], stock[i][key])).toBeLessThan(1e-5);
        expect(maxRelError(fast[i][key], cpu[i][key])).toBeLessThan(1e-5);
      }
    },
  );

  it('really routes every case to XNNPACK, folded or per item', () => {
    expect(isFastBatchMatMulRegistered()).toBe(true);
    const routed = fastBatchMatMulStats();
    expect(routed.stock).toBe(0);
    expect(routed.folded).toBeGreaterThan(0);
    expect(routed.perItem).toBeGreaterThan(0);
  });

  it('leaks neither tensors nor wasm heap over 50 training-like steps', () => {
    registerFastBatchMatMul();
    const x = tf.tensor(values([4, 33, 24], 3), [4, 33, 24]);
    const wq = tf.variable(tf.tensor(values([24, 24], 4), [24, 24]));
    const step = () =>
      tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => {
          // tfjs cannot differentiate a rank-3 x rank-2 product with respect to the rank-2 operand
          // (no sum over the broadcast batch), so the tokens are flattened as tfjs-layers does.
          const q = tf.matMul(x.reshape([-1, 24]), wq).reshape([4, 33, 24]);
          const att = tf.softmax(tf.matMul(q, q, false, true)); // per-item, transposed
          return tf.mean(tf.matMul(att, q)); // per-item
        }, [wq]);
        wq.assign(wq.sub(grads[wq.name].mul(0.01)));
        return value.dataSync()[0];
      });
    step();
    const tensorsBefore = tf.memory().numTensors;
    const heapBefore = wasmHeapStats();
    for (let i = 0; i < 50; i++) step();
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    const heapAfter = wasmHeapStats();
    expect(heapAfter?.tensorBytes).toBe(heapBefore?.tensorBytes);
    expect(heapAfter?.heapBytes).toBe(heapBefore?.heapBytes);
    tf.dispose([x, wq]);
  });

  it('unregistering restores the stock kernel bit for bit', () => {
    unregisterFastBatchMatMul();
    expect(isFastBatchMatMulRegistered()).toBe(false);
    const again = run(CASES[35], 7 * 35 + 1);
    expect(again.out).toEqual(stock[35].out);
    registerFastBatchMatMul({ minMacsPerItem: 1 });
  });

  it('leaves small products on the stock loop under the default threshold', () => {
    unregisterFastBatchMatMul();
    const before = run(CASES[0], 1);
    registerFastBatchMatMul(); // default threshold 512 MACs; case 0 is 37*24*19 = 16872 MACs: XNNPACK
    const tiny: Case = [[3, 4], [2, 4], false, true]; // 24 MACs: stock
    unregisterFastBatchMatMul();
    const tinyStock = run(tiny, 5);
    registerFastBatchMatMul();
    expect(run(tiny, 5).out).toEqual(tinyStock.out);
    // forward, then forward + backward once per gradient: 5 products, all on the stock loop
    expect(fastBatchMatMulStats()).toEqual({ folded: 0, perItem: 0, chunked: 0, stock: 5 });
    expect(maxRelError(run(CASES[0], 1).out, before.out)).toBeLessThan(1e-5);
  });

  it('weight gradients x^T dy over row slices agree with the stock kernel and with cpu', () => {
    // Chunks of 7 rows: every 2-D transposeA case (inner sizes 24 to 100) is summed over several slices.
    registerFastBatchMatMul({ minMacsPerItem: 1, transposedAChunkRows: 7 });
    const before = fastBatchMatMulStats().chunked;
    let checked = 0;
    CASES.forEach((c, i) => {
      const [sa, sb, ta, tb] = c;
      if (!ta || tb || sa.length !== 2 || sb.length !== 2) return;
      const got = run(c, 7 * i + 1);
      for (const key of ['out', 'da', 'db'] as const) {
        expect(maxRelError(got[key], stock[i]![key])).toBeLessThan(1e-5);
        expect(maxRelError(got[key], cpu[i]![key])).toBeLessThan(1e-5);
      }
      checked++;
    });
    expect(checked).toBe(2);
    expect(fastBatchMatMulStats().chunked - before).toBeGreaterThanOrEqual(2);
    registerFastBatchMatMul({ minMacsPerItem: 1 });
  });

  it('keeps the stock error for mismatched inner sizes', () => {
    const a = tf.ones([3, 4]);
    const b = tf.ones([5, 2]);
    expect(() => tf.matMul(a, b)).toThrow(/inner shapes/);
    tf.dispose([a, b]);
  });
});
