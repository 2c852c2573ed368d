import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend.js';
import { AuxSegHead } from '../../src/layers/aux-seg-head.js';
import { PatientFusionHead } from '../../src/layers/patient-fusion-head.js';
import { RoiBranch } from '../../src/layers/roi-branch.js';
import { IMAGENET_NORMALIZATION } from '../../src/layers/vit/vision-transformer.js';
import { SliceEncoder, type SliceFeatures } from '../../src/layers/slice-encoder.js';
import { TinyVit } from './helpers/tiny-vit.js';
import { syntheticSlices, validFlags } from './helpers/tiny-model.js';
import { expectMrnError } from '../helpers/errors.js';

beforeAll(async () => {
  await selectBackend({ backend: 'cpu' });
});

function rebuild<T extends tf.layers.Layer>(layer: T): T {
  const className = (layer.constructor as unknown as { className: string }).className;
  const [cls, fromConfig] = tf.serialization.SerializationMap.getMap().classNameMap[className]!;
  // Through JSON, as a saved config would travel.
  return fromConfig(cls, JSON.parse(JSON.stringify(layer.getConfig()))) as unknown as T;
}

async function maxDiff(a: tf.Tensor, b: tf.Tensor): Promise<number> {
  const d = tf.max(tf.abs(tf.sub(a, b)));
  const v = (await d.data())[0]!;
  d.dispose();
  return v;
}

const random = (shape: number[], seed: number) => tf.randomNormal(shape, 0, 1, 'float32', seed);

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

describe('PatientFusionHead', () => {
  it.each(['transformer', 'concat-mlp'] as const)(
    '%s: shapes, attention, config round trip',
    async (fusion) => {
      const head = new PatientFusionHead({
        numRois: 3,
        numClasses: 4,
        fusion,
        heads: 2,
        projectionDim: 5,
        seed: 3,
      });
      const tokens = random([6, 3, 8], 1);
      const out = head.apply(tokens) as tf.Tensor[];
      const shapes = [
        [6, 4],
        [6, 8],
        [6, 3, 5],
      ];
      if (fusion === 'transformer') shapes.push([6, 3]);
      expect(out.map((t) => t.shape)).toEqual(shapes);
      expect(head.computeOutputShape([6, 3, 8])).toEqual(shapes);
      if (fusion === 'transformer') {
        for (const row of (await out[3]!.array()) as number[][])
          expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
      }
      const copy = rebuild(head);
      const again = copy.apply(tokens) as tf.Tensor[];
      for (let i = 0; i < out.length; i++) expect(await maxDiff(out[i]!, again[i]!)).toBe(0);
      // Each ROI has its own projection head: permuting ROI tokens does not permute projections.
      const swapped = tf.concat(
        [
          tf.slice(tokens, [0, 1, 0], [-1, 1, -1]),
          tf.slice(tokens, [0, 0, 0], [-1, 1, -1]),
          tf.slice(tokens, [0, 2, 0], [-1, 1, -1]),
        ],
        1,
      );
      const outSwapped = head.apply(swapped) as tf.Tensor[];
      const p0 = tf.slice(out[2]!, [0, 0, 0], [-1, 1, -1]);
      const q1 = tf.slice(outSwapped[2]!, [0, 1, 0], [-1, 1, -1]);
      expect(await maxDiff(p0, q1)).toBeGreaterThan(1e-4);
      const wrong = random([6, 2, 8], 1);
      expectMrnError(
        () => head.apply(wrong),
        'E_INVALID_ARGUMENT',
        /ROI tokens must have shape \[\?, 3, 8\], got \[6, 2, 8\]/,
      );
      tf.dispose([tokens, ...out, ...again, swapped, ...outSwapped, p0, q1, wrong]);
      head.dispose();
      copy.dispose();
    },
  );

  it('rejects bad configuration', () => {
    expectMrnError(
      () => new PatientFusionHead({ numRois: 0 }),
      'E_INVALID_ARGUMENT',
      /numRois must be a positive integer/,
    );
    expectMrnError(
      () => new PatientFusionHead({ numRois: 2, fusion: 'mean' as 'transformer' }),
      'E_INVALID_ARGUMENT',
      /fusion must be 'transformer' or 'concat-mlp'/,
    );
  });
});

describe('SliceEncoder', () => {
  const vit = () => new TinyVit({ imageSize: 14, patchSize: 7, embedDim: 8, seed: 2 });

  it('replicates one channel to RGB, applies the backbone normalisation, folds B·D, and chunks', async () => {
    const backbone = vit();
    const slices = syntheticSlices([0, 1, 1], 4, 14, 3); // [3, 4, 14, 14, 1]
    const one = new SliceEncoder({ backbone, chunkSize: 100 });
    const chunked = new SliceEncoder({ backbone, chunkSize: 5 });
    const [patch, cls] = one.apply(slices) as tf.Tensor[];
    expect(patch!.shape).toEqual([3, 4, 4, 8]);
    expect(cls!.shape).toEqual([3, 4, 8]);
    const [patch5, cls5] = chunked.apply(slices) as tf.Tensor[];
    expect(await maxDiff(patch!, patch5!)).toBe(0);
    expect(await maxDiff(cls!, cls5!)).toBe(0);
    // By hand: slice (b=2, d=1), replicated and normalised with the backbone's mean/std.
    const { mean, std } = backbone.inputNormalization;
    const manual = tf.tidy((): tf.TensorContainer => {
      const img = tf.reshape(tf.slice(slices, [2, 1, 0, 0, 0], [1, 1, -1, -1, -1]), [1, 14, 14, 1]);
      const rgb = tf.concat(
        [0, 1, 2].map((c) => tf.div(tf.sub(img, mean[c]!), std[c]!)),
        -1,
      ) as tf.Tensor4D;
      return backbone.forwardFeatures(rgb) as unknown as tf.TensorContainer;
    }) as unknown as SliceFeatures;
    const fromEncoder = tf.reshape(tf.slice(patch!, [2, 1, 0, 0], [1, 1, -1, -1]), [1, 4, 8]);
    expect(await maxDiff(fromEncoder, manual.patch)).toBeLessThan(1e-5);
    // encode() (async path) with padding: real slices equal, padding slices zero.
    const valid = validFlags(3, 4, [0, 2, 4]);
    const enc = await one.encode(slices, { valid });
    const mask = tf.reshape(valid, [3, 4, 1, 1]);
    expect(await maxDiff(enc.patch, tf.mul(patch!, mask))).toBeLessThan(1e-5);
    expect(await maxDiff(enc.cls, tf.mul(cls!, tf.reshape(valid, [3, 4, 1])))).toBeLessThan(1e-5);
    tf.dispose([
      slices,
      patch!,
      cls!,
      patch5!,
      cls5!,
      manual.cls,
      manual.patch,
      fromEncoder,
      valid,
      enc.patch,
      enc.cls,
      mask,
    ]);
    backbone.dispose();
  });

  it('serves async backbones through encode() and refuses them in the synchronous call', async () => {
    const backbone = vit();
    let calls = 0;
    const asyncBackbone = {
      embedDim: 8,
      patchSize: 7,
      inputNormalization: IMAGENET_NORMALIZATION,
      async forwardFeatures(pixels: tf.Tensor4D): Promise<SliceFeatures> {
        calls++;
        await new Promise((r) => setTimeout(r, 1));
        return backbone.forwardFeatures(pixels);
      },
    };
    const enc = new SliceEncoder({ backbone: asyncBackbone, chunkSize: 3 });
    const slices = syntheticSlices([1, 0], 4, 14, 1);
    const start = tf.memory().numTensors;
    const out = await enc.encode(slices);
    expect(calls).toBe(3); // 8 slices in chunks of 3
    expect(out.patch.shape).toEqual([2, 4, 4, 8]);
    tf.dispose([out.patch, out.cls]);
    expect(tf.memory().numTensors).toBe(start);
    expectMrnError(() => enc.apply(slices), 'E_INVALID_ARGUMENT', /asynchronous; use encode\(\)/);
    slices.dispose();
    backbone.dispose();
  });

  it('accepts tfjs LayersModels and plain functions as backbones', async () => {
    const input = tf.input({ shape: [14, 14, 3] });
    const grid = tf.layers
      .conv2d({
        filters: 6,
        kernelSize: 7,
        strides: 7,
        kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }),
      })
      .apply(input) as tf.SymbolicTensor;
    const patchOut = tf.layers.reshape({ targetShape: [4, 6] }).apply(grid) as tf.SymbolicTensor;
    const clsOut = tf.layers.globalAveragePooling2d({}).apply(grid) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: [clsOut, patchOut] });
    const fromModel = new SliceEncoder({ backbone: model, backboneInfo: { patchSize: 7 } });
    expect(fromModel.backbone.embedDim).toBe(6);
    const slices = syntheticSlices([0, 1], 2, 14, 4);
    const [p1, c1] = fromModel.apply(slices) as tf.Tensor[];
    expect(p1!.shape).toEqual([2, 2, 4, 6]);
    expect(c1!.shape).toEqual([2, 2, 6]);
    const fn = (pixels: tf.Tensor4D): SliceFeatures => {
      const [cls, patch] = model.predict(pixels) as tf.Tensor[];
      return { cls: cls as tf.Tensor2D, patch: patch as tf.Tensor3D };
    };
    const fromFn = new SliceEncoder({ backbone: fn, backboneInfo: { embedDim: 6, patchSize: 7 } });
    const [p2] = fromFn.apply(slices) as tf.Tensor[];
    expect(await maxDiff(p1!, p2!)).toBe(0);
    expectMrnError(() => new SliceEncoder({ backbone: fn }), 'E_CONFIG', /embedDim/);
    expectMrnError(() => new SliceEncoder({ backbone: model }), 'E_CONFIG', /patchSize/);
    tf.dispose([slices, p1!, c1!, p2!]);
    model.dispose();
  });

  it('rebuilds from its config, a registered layer backbone included; rejects bad slices', async () => {
    const backbone = vit();
    const enc = new SliceEncoder({ backbone, chunkSize: 4 });
    const copy = rebuild(enc);
    expect(copy.hasBackbone).toBe(true);
    expect(copy.chunkSize).toBe(4);
    const slices = syntheticSlices([0], 2, 14, 9);
    const a = enc.apply(slices) as tf.Tensor[];
    const b = copy.apply(slices) as tf.Tensor[];
    expect(await maxDiff(a[0]!, b[0]!)).toBe(0);
    const bare = new SliceEncoder({ chunkSize: 2 });
    expectMrnError(() => bare.apply(slices), 'E_CONFIG', /no backbone attached/);
    const rank4 = tf.zeros([2, 14, 14, 1]);
    expectMrnError(
      () => enc.apply(rank4),
      'E_INVALID_ARGUMENT',
      /ROI slices must have shape \[\?, \?, \?, \?, \?\], got \[2, 14, 14, 1\]/,
    );
    const twoChannels = tf.zeros([1, 1, 14, 14, 2]);
    expectMrnError(() => enc.apply(twoChannels), 'E_INVALID_ARGUMENT', /1 or 3 channels, got 2/);
    tf.dispose([slices, ...a, ...b, rank4, twoChannels]);
    backbone.dispose();
    (copy.backbone as unknown as TinyVit).dispose();
  });
});

describe('serialisation registry', () => {
  it('registers every layer under its class name', () => {
    const map = tf.serialization.SerializationMap.getMap().classNameMap;
    for (const cls of [SliceEncoder, AuxSegHead, RoiBranch, PatientFusionHead]) {
      expect(map[cls.className]?.[0]).toBe(cls);
    }
  });
});
