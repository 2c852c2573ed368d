import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend.js';
import { AuxSegHead } from '../../src/layers/aux-seg-head.js';
import { expectMrnError } from '../helpers/errors.js';
import { maxDiff, random, rebuild } from './helpers/layer-config.js';

beforeAll(async () => {
  await selectBackend({ backend: 'cpu' });
});

describe('AuxSegHead', () => {
  it.each([
    { b: 1, d: 2, g: 2, e: 8, k: 2, up: 2, out: null, p: 14, expected: 28 },
    { b: 2, d: 3, g: 4, e: 6, k: 5, up: 4, out: 20, p: 14, expected: 20 },
    { b: 3, d: 1, g: 3, e: 4, k: 3, up: 1, out: 9, p: 7, expected: 9 },
  ])('B=$b D=$d grid=$g E=$e K=$k upsample=$up -> S=$expected', ({ b, d, g, e, k, up, out, p, expected }) => {
    const head = new AuxSegHead({
      numClasses: k,
      hiddenDim: 5,
      upsample: up,
      outputSize: out,
      patchSize: p,
    });
    const x = random([b, d, g * g, e], 1);
    const start = tf.memory().numTensors;
    const [seg, fg] = head.apply(x) as tf.Tensor[];
    expect(seg!.shape).toEqual([b, d, expected, expected, k]);
    expect(fg!.shape).toEqual([b, d, g * g]);
    const fgv = fg!.dataSync();
    expect(Math.min(...fgv)).toBeGreaterThan(0);
    expect(Math.max(...fgv)).toBeLessThan(1);
    expect(head.computeOutputShape([b, d, g * g, e])).toEqual([
      [b, d, expected, expected, k],
      [b, d, g * g],
    ]);
    tf.dispose([seg!, fg!]);
    expect(tf.memory().numTensors).toBe(start + head.weights.length);
    x.dispose();
    head.dispose();
  });

  it('its foreground prior matches the per-pixel softmax when the map is not resized', () => {
    const head = new AuxSegHead({ numClasses: 3, hiddenDim: 4, upsample: 2, outputSize: 4 });
    const x = random([1, 1, 4, 6], 2);
    const [seg, fg] = head.apply(x) as tf.Tensor[];
    // 2x2 grid, 2x2 sub-blocks, output 4: token (gy, gx) owns pixels [2gy..2gy+1] x [2gx..2gx+1].
    const p = tf.softmax(seg!, -1).arraySync() as number[][][][][];
    const f = fg!.dataSync();
    for (let gy = 0; gy < 2; gy++) {
      for (let gx = 0; gx < 2; gx++) {
        let bg = 0;
        for (let y = 0; y < 2; y++)
          for (let xx = 0; xx < 2; xx++) bg += p[0]![0]![2 * gy + y]![2 * gx + xx]![0]!;
        expect(f[gy * 2 + gx]).toBeCloseTo(1 - bg / 4, 5);
      }
    }
    tf.dispose([x, seg!, fg!]);
    head.dispose();
  });

  it('rebuilds from its config with identical outputs; rejects bad input and config', async () => {
    const head = new AuxSegHead({ numClasses: 3, hiddenDim: 4, upsample: 2, seed: 4 });
    const x = random([1, 2, 9, 6], 3);
    const copy = rebuild(head);
    const [a] = head.apply(x) as tf.Tensor[];
    const [b] = copy.apply(x) as tf.Tensor[];
    expect(await maxDiff(a!, b!)).toBe(0);
    const odd = random([1, 2, 8, 6], 3);
    expectMrnError(() => head.apply(odd), 'E_INVALID_ARGUMENT', /square grid, got N = 8/);
    const flat = random([2, 9, 6], 3);
    expectMrnError(
      () => head.apply(flat),
      'E_INVALID_ARGUMENT',
      /patch tokens must have shape \[\?, \?, \?, 6\], got \[2, 9, 6\]/,
    );
    expectMrnError(
      () => new AuxSegHead({ numClasses: 1 }),
      'E_INVALID_ARGUMENT',
      /numClasses must be an integer >= 2/,
    );
    tf.dispose([x, a!, b!, odd, flat]);
    head.dispose();
    copy.dispose();
  });
});
