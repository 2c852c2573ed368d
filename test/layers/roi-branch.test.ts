import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend.js';
import { RoiBranch } from '../../src/layers/roi-branch.js';
import { validFlags } from './helpers/tiny-model.js';
import { expectMrnError } from '../helpers/errors.js';
import { maxDiff, random, rebuild } from './helpers/layer-config.js';

beforeAll(async () => {
  await selectBackend({ backend: 'cpu' });
});

describe('RoiBranch', () => {
  const make = (over: Partial<ConstructorParameters<typeof RoiBranch>[0]> = {}) =>
    new RoiBranch({
      numSegClasses: 3,
      embedDim: 8,
      heads: 2,
      sfaDepth: 2,
      maxSlices: 6,
      segHiddenDim: 4,
      segUpsample: 2,
      patchSize: 7,
      seed: 1,
      ...over,
    });

  it.each([
    { b: 1, d: 1, n: 4, e: 5 },
    { b: 2, d: 5, n: 9, e: 12 },
    { b: 4, d: 3, n: 16, e: 8 },
  ])('shapes for B=$b D=$d N=$n Ein=$e', ({ b, d, n, e }) => {
    const branch = make();
    const inputs = [random([b, d, n, e], 1), random([b, d, e], 2), validFlags(b, d)];
    const out = branch.apply(inputs) as tf.Tensor[];
    const s = Math.sqrt(n) * 7;
    expect(out.map((t) => t.shape)).toEqual([
      [b, 8],
      [b, d, s, s, 3],
      [b, d],
      [b, d, n],
    ]);
    expect(branch.computeOutputShape(inputs.map((t) => t.shape))).toEqual(out.map((t) => t.shape));
    tf.dispose([...inputs, ...out]);
    branch.dispose();
  });

  it('padding slices do not change the ROI token, and get zero slice attention', async () => {
    const branch = make();
    const [b, d, n, e] = [2, 5, 9, 6];
    const patch = random([b, d, n, e], 5);
    const cls = random([b, d, e], 6);
    const valid = validFlags(b, d, [2, 1]); // item 0: slices 3, 4 padding; item 1: slice 4
    const pad = tf.sub(1, valid);
    // Replace the padding slices' features by large garbage.
    const garbagePatch = tf.add(
      patch,
      tf.mul(tf.reshape(pad, [b, d, 1, 1]), random([b, d, n, e], 7).mul(50)),
    );
    const garbageCls = tf.add(cls, tf.mul(tf.reshape(pad, [b, d, 1]), random([b, d, e], 8).mul(50)));
    const [tokenA, , attnA] = branch.apply([patch, cls, valid]) as tf.Tensor[];
    const [tokenB, , attnB] = branch.apply([garbagePatch, garbageCls, valid]) as tf.Tensor[];
    expect(await maxDiff(tokenA!, tokenB!)).toBe(0);
    const attn = (await attnA!.array()) as number[][];
    expect(attn[0]!.slice(3)).toEqual([0, 0]);
    expect(attn[1]![4]).toBe(0);
    for (const row of attn) expect(row.reduce((x, y) => x + y, 0)).toBeCloseTo(1, 6);
    // Dropping the padding slices altogether gives the same token too (item 1 keeps 4 real slices).
    const [tokenShort] = branch.apply([
      tf.slice(patch, [1, 0, 0, 0], [1, 4, -1, -1]),
      tf.slice(cls, [1, 0, 0], [1, 4, -1]),
      validFlags(1, 4),
    ]) as tf.Tensor[];
    expect(await maxDiff(tokenShort!, tf.slice(tokenA!, [1, 0], [1, -1]))).toBeLessThan(1e-5);
    // The real slices do matter (a constant shift would not: the token projection layer-normalises).
    const moved = tf.add(patch, random([b, d, n, e], 9));
    const [tokenC] = branch.apply([moved, cls, valid]) as tf.Tensor[];
    expect(await maxDiff(tokenA!, tokenC!)).toBeGreaterThan(1e-3);
    tf.dispose([
      patch,
      cls,
      valid,
      pad,
      garbagePatch,
      garbageCls,
      tokenA!,
      tokenB!,
      attnA!,
      attnB!,
      tokenShort!,
      moved,
      tokenC!,
    ]);
    branch.dispose();
  });

  it('tracks the nested aux head weights (trainableWeights, getWeights/setWeights, dispose)', () => {
    const branch = make();
    const inputs = [random([1, 2, 4, 6], 1), random([1, 2, 6], 2), validFlags(1, 2)];
    tf.dispose(branch.apply(inputs) as tf.Tensor[]);
    for (const w of branch.auxHead.weights) expect(branch.trainableWeights).toContain(w);
    const paths = branch.namedWeights().map((w) => w.path);
    expect(paths).toContain('aux.mlp.fc1.kernel');
    expect(paths).toContain('sfa.block1.mlp.fc2.bias');
    expect(branch.countParams()).toBe(
      branch.weights.reduce((n, w) => n + w.shape.reduce((a, b) => a! * b!, 1)!, 0),
    );
    const other = make({ seed: 2 });
    other.ensureBuilt(inputs.map((t) => t.shape));
    const values = branch.getWeights();
    other.setWeights(values);
    const a = branch.apply(inputs) as tf.Tensor[];
    const b = other.apply(inputs) as tf.Tensor[];
    expect(Array.from(a[0]!.dataSync())).toEqual(Array.from(b[0]!.dataSync()));
    const before = tf.memory().numTensors;
    const count = branch.weights.length;
    branch.dispose();
    expect(tf.memory().numTensors).toBe(before - count);
    tf.dispose([...inputs, ...values, ...a, ...b]);
    other.dispose();
  });

  it('rebuilds from its config with identical outputs', async () => {
    const branch = make({ segPrior: false, sfaDepth: 0, poolKeyDim: 4 });
    const inputs = [random([2, 3, 4, 6], 1), random([2, 3, 6], 2), validFlags(2, 3, [1])];
    const copy = rebuild(branch);
    expect(copy.getConfig()).toEqual(JSON.parse(JSON.stringify(branch.getConfig())));
    const a = branch.apply(inputs) as tf.Tensor[];
    const b = copy.apply(inputs) as tf.Tensor[];
    for (let i = 0; i < 4; i++) expect(await maxDiff(a[i]!, b[i]!)).toBe(0);
    tf.dispose([...inputs, ...a, ...b]);
    branch.dispose();
    copy.dispose();
  });

  it('rejects wrong input counts, ranks, mismatched D and too many slices', () => {
    const branch = make();
    const patch = random([2, 3, 4, 6], 1);
    const cls = random([2, 3, 6], 2);
    const valid = validFlags(2, 3);
    tf.dispose(branch.apply([patch, cls, valid]) as tf.Tensor[]);
    expectMrnError(() => branch.apply([patch, cls]), 'E_INVALID_ARGUMENT', /expects three inputs/);
    const cls4 = random([2, 4, 6], 2);
    expectMrnError(
      () => branch.apply([patch, cls4, valid]),
      'E_INVALID_ARGUMENT',
      /CLS tokens must have shape \[2, 3, 6\], got \[2, 4, 6\]/,
    );
    const valid2 = validFlags(2, 2);
    expectMrnError(
      () => branch.apply([patch, cls, valid2]),
      'E_INVALID_ARGUMENT',
      /valid flags must have shape \[2, 3\]/,
    );
    const wide = random([2, 3, 4, 7], 1);
    expectMrnError(
      () => branch.apply([wide, cls, valid]),
      'E_INVALID_ARGUMENT',
      /patch tokens must have shape \[\?, \?, \?, 6\]/,
    );
    const long = [random([1, 7, 4, 6], 1), random([1, 7, 6], 1), validFlags(1, 7)];
    expectMrnError(() => branch.apply(long), 'E_INVALID_ARGUMENT', /D = 7 slices exceeds maxSlices = 6/);
    expectMrnError(() => make({ heads: 3 }), 'E_INVALID_ARGUMENT', /heads \(3\) must divide embedDim \(8\)/);
    tf.dispose([patch, cls, valid, cls4, valid2, wide, ...long]);
    branch.dispose();
  });
});
