import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, writeFileSync, copyFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../../src/backend.js';
import { encodeSafetensors, readSafetensors, type SafetensorsTensor } from '../../../src/io/safetensors.js';
import { loadDinov2, type Dinov2WeightTensor } from '../../../src/layers/vit/load-dinov2.js';
import { VisionTransformer, vitWeightShapes } from '../../../src/layers/vit/vision-transformer.js';
import {
  VIT_PRESETS,
  ffnHiddenSize,
  vitConfigFromHf,
  vitParameterCount,
} from '../../../src/layers/vit/vit-config.js';
import { REFERENCE, maxAbsDiff, nhwc } from '../helpers/golden-suite.js';
import { checkErfGradient, checkPartialTuning } from '../helpers/vit-training-check.js';
import { expectMrnRejection } from '../../helpers/errors.js';

const TINY = REFERENCE('dinov2-tiny');
const tinyConfig = JSON.parse(
  (await import('node:fs')).readFileSync(`${TINY}/config.json`, 'utf8'),
) as Record<string, unknown> & {
  hidden_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
};

describe('VisionTransformer and loadDinov2 (cpu)', () => {
  let weights: Record<string, SafetensorsTensor>;
  let ref: Record<string, SafetensorsTensor>;
  let vit: VisionTransformer;
  beforeAll(async () => {
    await selectBackend({ backend: 'cpu' });
    weights = await readSafetensors(`${TINY}/model.safetensors`);
    ref = await readSafetensors(`${TINY}/reference_io.safetensors`);
    vit = await loadDinov2(TINY);
  });

  it('exposes the contract properties', () => {
    expect([vit.embedDim, vit.patchSize, vit.numRegisters, vit.depth]).toEqual([64, 14, 0, 3]);
    expect(vit.inputNormalization.mean).toEqual([0.485, 0.456, 0.406]);
    expect(vit.inputNormalization.std).toEqual([0.229, 0.224, 0.225]);
    expect(vit.trainable).toBe(false);
    expect(vit.trainableWeights.length).toBe(0);
  });

  it('presets come from one table and match the released sizes', () => {
    // Hugging Face's counts (22,056,576 and 86,580,480) include the unused mask_token (E values)
    expect(vitParameterCount(VIT_PRESETS['dinov2-small']) + 384).toBe(22_056_576);
    expect(vitParameterCount(VIT_PRESETS['dinov2-base']) + 768).toBe(86_580_480);
    expect(ffnHiddenSize(VIT_PRESETS['dinov2-giant'])).toBe(4096);
    expect(VIT_PRESETS['dinov2-with-registers-large']).toMatchObject({
      numRegisters: 4,
      interpolateOffset: 0,
      interpolateAntialias: true,
    });
    expect(vitConfigFromHf(tinyConfig)).toMatchObject({
      embedDim: 64,
      depth: 3,
      numHeads: 4,
      posGridSize: 37,
      interpolateOffset: 0.1,
    });
  });

  it('accepts the original Meta names (fused qkv) and gives the same features', async () => {
    const meta: Record<string, Dinov2WeightTensor> = {};
    const rename: Array<[RegExp, string]> = [
      [/^embeddings\.cls_token$/, 'cls_token'],
      [/^embeddings\.mask_token$/, 'mask_token'],
      [/^embeddings\.position_embeddings$/, 'pos_embed'],
      [/^embeddings\.patch_embeddings\.projection\./, 'patch_embed.proj.'],
      [/^encoder\.layer\.(\d+)\.attention\.output\.dense\./, 'blocks.$1.attn.proj.'],
      [/^encoder\.layer\.(\d+)\.layer_scale(\d)\.lambda1$/, 'blocks.$1.ls$2.gamma'],
      [/^encoder\.layer\.(\d+)\./, 'blocks.$1.'],
      [/^layernorm\./, 'norm.'],
    ];
    for (const [name, t] of Object.entries(weights)) {
      if (name.includes('attention.attention')) continue;
      let n = name;
      for (const [re, to] of rename)
        if (re.test(n)) {
          n = n.replace(re, to);
          break;
        }
      meta[n] = t;
    }
    for (let i = 0; i < 3; i++) {
      for (const kind of ['weight', 'bias']) {
        const parts = ['query', 'key', 'value'].map(
          (q) => weights[`encoder.layer.${i}.attention.attention.${q}.${kind}`],
        );
        const data = new Float32Array(parts.reduce((s, p) => s + p.data.length, 0));
        let o = 0;
        for (const p of parts) {
          data.set(p.data as Float32Array, o);
          o += p.data.length;
        }
        meta[`blocks.${i}.attn.qkv.${kind}`] = { shape: kind === 'weight' ? [192, 64] : [192], data };
      }
    }
    const m = await loadDinov2({ config: tinyConfig, weights: meta });
    const x = nhwc(ref['98x70.pixel_values_nchw']);
    const f = m.forwardFeatures(x);
    expect(maxAbsDiff(f.patch, ref['98x70.patch'])).toBeLessThan(1e-4);
    expect(maxAbsDiff(f.cls, ref['98x70.cls'])).toBeLessThan(1e-4);
    tf.dispose([x, f as unknown as tf.TensorContainer]);
    m.dispose();
  });

  it('loads from safetensors bytes with a config object, and from the .safetensors path', async () => {
    const bytes = new Uint8Array((await import('node:fs')).readFileSync(`${TINY}/model.safetensors`));
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'mrn-vit-'));
    copyFileSync(`${TINY}/model.safetensors`, path.join(tmp, 'weights.safetensors'));
    copyFileSync(`${TINY}/config.json`, path.join(tmp, 'config.json'));
    for (const m of [
      await loadDinov2({ config: tinyConfig, weights: bytes }),
      await loadDinov2(path.join(tmp, 'weights.safetensors')),
    ]) {
      const x = nhwc(ref['98x70.pixel_values_nchw']);
      const f = m.forwardFeatures(x);
      expect(maxAbsDiff(f.cls, ref['98x70.cls'])).toBeLessThan(1e-4);
      tf.dispose([x, f as unknown as tf.TensorContainer]);
      m.dispose();
    }
  });

  describe('checkpoints that do not match fail listing the offending tensors', () => {
    const edit = (fn: (w: Record<string, Dinov2WeightTensor>) => void) => {
      const w: Record<string, Dinov2WeightTensor> = { ...weights };
      fn(w);
      return loadDinov2({ config: tinyConfig, weights: w });
    };
    it('renamed tensor: missing + unexpected', async () => {
      const err = await expectMrnRejection(
        edit((w) => {
          w['encoder.layer.1.mlp.fc1.weights'] = w['encoder.layer.1.mlp.fc1.weight'];
          delete w['encoder.layer.1.mlp.fc1.weight'];
        }),
        'E_WEIGHTS',
      );
      expect(err.message).toMatch(/missing: encoder\.layer\.1\.mlp\.fc1\.weight/);
      expect(err.message).toMatch(/unexpected: encoder\.layer\.1\.mlp\.fc1\.weights/);
    });
    it('missing tensors, all listed', async () => {
      const err = await expectMrnRejection(
        edit((w) => {
          delete w['layernorm.bias'];
          delete w['encoder.layer.2.layer_scale1.lambda1'];
        }),
        'E_WEIGHTS',
      );
      expect(err.message).toContain('layernorm.bias');
      expect(err.message).toContain('encoder.layer.2.layer_scale1.lambda1');
      expect((err as unknown as { details: { missing: string[] } }).details.missing.length).toBe(2);
    });
    it('mis-shaped tensor', async () => {
      const err = await expectMrnRejection(
        edit((w) => {
          w['encoder.layer.0.attention.attention.key.weight'] = {
            shape: [64, 32],
            data: new Float32Array(64 * 32),
          };
        }),
        'E_WEIGHTS',
      );
      expect(err.message).toMatch(
        /mis-shaped: encoder\.layer\.0\.attention\.attention\.key\.weight \[64,32\] \(expected \[64,64\]\)/,
      );
    });
    it('a config that disagrees with the file (wrong depth)', async () => {
      const err = await expectMrnRejection(
        loadDinov2({ config: { ...tinyConfig, num_hidden_layers: 4 }, weights }),
        'E_WEIGHTS',
      );
      expect(err.message).toContain('encoder.layer.3.norm1.weight');
    });
    it('an extra tensor is refused unless allowUnexpected', async () => {
      const w = { ...weights, 'classifier.weight': { shape: [2, 64], data: new Float32Array(128) } };
      await expectMrnRejection(loadDinov2({ config: tinyConfig, weights: w }), 'E_WEIGHTS');
      const m = await loadDinov2({ config: tinyConfig, weights: w }, { allowUnexpected: true });
      m.dispose();
    });
    it('from a file: checked on the header, the error names the file', async () => {
      const tmp = mkdtempSync(path.join(os.tmpdir(), 'mrn-vit-'));
      const w: Record<string, SafetensorsTensor> = { ...weights };
      delete w['encoder.layer.0.norm2.bias'];
      const file = path.join(tmp, 'model.safetensors');
      writeFileSync(file, encodeSafetensors(w as never));
      writeFileSync(path.join(tmp, 'config.json'), JSON.stringify(tinyConfig));
      const err = await expectMrnRejection(loadDinov2(tmp), 'E_WEIGHTS');
      expect(err.message).toContain('encoder.layer.0.norm2.bias');
      expect(err.message).toContain(file);
    });
    it('unsupported config and missing files', async () => {
      await expectMrnRejection(
        loadDinov2({ config: { ...tinyConfig, hidden_act: 'relu' }, weights }),
        'E_CONFIG',
      );
      await expectMrnRejection(
        loadDinov2({ config: { ...tinyConfig, num_attention_heads: 5 }, weights }),
        'E_CONFIG',
      );
      await expectMrnRejection(loadDinov2('/nonexistent/dinov2'), 'E_FILE_NOT_FOUND');
      const tmp = mkdtempSync(path.join(os.tmpdir(), 'mrn-vit-'));
      await expectMrnRejection(loadDinov2(tmp), 'E_FILE_NOT_FOUND'); // no config.json
      writeFileSync(path.join(tmp, 'config.json'), JSON.stringify(tinyConfig));
      writeFileSync(path.join(tmp, 'model.safetensors'), encodeSafetensors({}).subarray(0, 6));
      await expectMrnRejection(loadDinov2(tmp), 'E_SAFETENSORS_INVALID');
    });
  });

  it('rejects inputs that are not [B, H, W, 3] with H, W multiples of 14', async () => {
    const e1 = await expectMrnRejection(
      () => vit.forwardFeatures(tf.zeros([1, 30, 28, 3])),
      'E_INVALID_ARGUMENT',
    );
    expect(e1.message).toMatch(/30x28 is not a multiple of the 14-pixel patch/);
    await expectMrnRejection(() => vit.forwardFeatures(tf.zeros([1, 28, 28, 1])), 'E_INVALID_ARGUMENT');
    await expectMrnRejection(() => vit.intermediateLayers(tf.zeros([1, 28, 28, 3]), 4), 'E_INVALID_ARGUMENT');
  });

  it('does not leak tensors across repeated forward passes', () => {
    const x = tf.randomNormal([2, 28, 42, 3]) as tf.Tensor4D;
    tf.dispose(vit.forwardFeatures(x) as unknown as tf.TensorContainer); // warm the position cache
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      tf.dispose(vit.forwardFeatures(x) as unknown as tf.TensorContainer);
      tf.dispose(vit.intermediateLayers(x, 2) as unknown as tf.TensorContainer);
      tf.dispose(vit.apply(x) as tf.Tensor[]);
    }
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });

  it('trains only the unfrozen blocks (gradients through exact erf GELU)', () => {
    const x = nhwc(ref['98x70.pixel_values_nchw']);
    checkErfGradient();
    checkPartialTuning(vit, x);
    x.dispose();
  });

  it("'all' trains the embeddings too, through a differentiable interpolation equal to the cached one", () => {
    const x = nhwc(ref['98x70.pixel_values_nchw']);
    const frozen = vit.forwardFeatures(x);
    vit.setTrainableBlocks('all');
    const trained = vit.forwardFeatures(x);
    expect(
      maxAbsDiff(trained.patch, {
        dtype: 'F32',
        shape: frozen.patch.shape,
        data: frozen.patch.dataSync() as Float32Array,
      }),
    ).toBeLessThan(1e-5);
    const { value, grads } = tf.variableGrads(() =>
      tf.tidy(() => tf.mean(tf.square(vit.forwardFeatures(x).patch)) as tf.Scalar),
    );
    const pos = Object.keys(grads).find((k) => k.endsWith('/pos_embed'))!;
    expect(pos).toBeDefined();
    expect(Object.keys(grads).length).toBe(vitWeightShapes(vit.vitConfig).length);
    expect(grads[pos].dataSync().some((v) => v !== 0)).toBe(true);
    tf.dispose([
      x,
      value,
      grads as unknown as tf.TensorContainer,
      frozen as unknown as tf.TensorContainer,
      trained as unknown as tf.TensorContainer,
    ]);
    vit.setTrainableBlocks(0);
  });

  it('serialises: config round trip and a LayersModel save/load give identical outputs', async () => {
    const fresh = new VisionTransformer({
      preset: 'dinov2-test-tiny',
      depth: 2,
      numRegisters: 2,
      seed: 7,
      name: 'enc',
    });
    const input = tf.input({ shape: [28, 42, 3] });
    const outs = fresh.apply(input) as tf.SymbolicTensor[];
    expect(outs[1].shape).toEqual([null, 6, 64]);
    const model = tf.model({ inputs: input, outputs: outs });
    let saved: tf.io.ModelArtifacts | undefined;
    await model.save(
      tf.io.withSaveHandler(
        async (a) => (
          (saved = a),
          { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }
        ),
      ),
    );
    const loaded = await tf.loadLayersModel(tf.io.fromMemory(saved!));
    const x = tf.randomNormal([2, 28, 42, 3]);
    const [a, b] = [model.predict(x) as tf.Tensor[], loaded.predict(x) as tf.Tensor[]];
    expect(Array.from(a[1].dataSync())).toEqual(Array.from(b[1].dataSync()));
    expect(Array.from(a[0].dataSync())).toEqual(Array.from(b[0].dataSync()));
    const layer = loaded.layers.find((l) => l instanceof VisionTransformer) as VisionTransformer;
    expect(layer.vitConfig).toEqual(fresh.vitConfig);
    expect(layer.getConfig()).toMatchObject({ depth: 2, numRegisters: 2, trainableBlocks: 0 });
    // same seed, same weights
    const again = new VisionTransformer({ preset: 'dinov2-test-tiny', depth: 2, numRegisters: 2, seed: 7 });
    again.ensureBuilt();
    expect(Array.from(again.getWeights()[0].dataSync().slice(0, 8))).toEqual(
      Array.from(fresh.getWeights()[0].dataSync().slice(0, 8)),
    );
    tf.dispose([x, ...a, ...b]);
    again.dispose();
  });

  it('the default seed 0 gives the same weights every time (tfjs reads a 0 seed as unseeded)', () => {
    const make = () => {
      const v = new VisionTransformer({ preset: 'dinov2-test-tiny', depth: 1 });
      v.ensureBuilt();
      // the first 64 values of every weight (enough to tell two draws apart; keeps a failure's diff short)
      const w = v.getWeights().map((t) => Array.from(t.dataSync().slice(0, 64)));
      v.dispose();
      return w;
    };
    const [first, second] = [make(), make()];
    // weight 0 is the patch embedding, the one drawn with seed 0 + 0
    expect(first[0]!.some((x) => x !== 0)).toBe(true);
    expect(second).toEqual(first);
  });
});
