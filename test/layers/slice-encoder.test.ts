import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend.js';
import { IMAGENET_NORMALIZATION } from '../../src/layers/vit/vision-transformer.js';
import { SliceEncoder, type SliceFeatures } from '../../src/layers/slice-encoder.js';
import { TinyVit } from './helpers/tiny-vit.js';
import { syntheticSlices, validFlags } from './helpers/tiny-model.js';
import { expectMrnError } from '../helpers/errors.js';
import { maxDiff, rebuild } from './helpers/layer-config.js';

beforeAll(async () => {
  await selectBackend({ backend: 'cpu' });
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
