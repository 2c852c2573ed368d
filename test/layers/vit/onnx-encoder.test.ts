import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../../src/backend.js';
import { readSafetensors } from '../../../src/io/safetensors.js';
import { OnnxVitEncoder } from '../../../src/layers/vit/onnx-encoder.js';
import { IMAGENET_NORMALIZATION } from '../../../src/layers/vit/vision-transformer.js';
import { OWN, REFERENCE, maxAbsDiff, nhwc } from '../helpers/golden-suite.js';
import { expectMrnRejection } from '../../helpers/errors.js';

describe('OnnxVitEncoder (onnxruntime-node)', () => {
  beforeAll(async () => {
    await selectBackend({ backend: 'cpu' });
  });

  it('reproduces the official outputs from an export with cls/patch outputs (official reference fixture)', async () => {
    const enc = await OnnxVitEncoder.create(REFERENCE('dinov2-tiny/model_224x224.onnx'), { threads: 1 });
    expect([enc.embedDim, enc.patchSize, enc.numRegisters]).toEqual([64, 14, 0]);
    expect(enc.inputSize).toEqual([224, 224]);
    expect(enc.inputNormalization).toEqual(IMAGENET_NORMALIZATION);
    const ref = await readSafetensors(REFERENCE('dinov2-tiny/reference_io.safetensors'));
    const before = tf.memory().numTensors;
    const x = nhwc(ref['224x224.pixel_values_nchw']);
    const f = await enc.forwardFeatures(x);
    expect(f.registers).toBeUndefined();
    const errs = [maxAbsDiff(f.cls, ref['224x224.cls']), maxAbsDiff(f.patch, ref['224x224.patch'])];
    console.log('onnx dinov2-tiny 224x224 max abs', errs);
    for (const e of errs) expect(e).toBeLessThan(1e-4);
    tf.dispose([x, f.cls, f.patch]);
    expect(tf.memory().numTensors).toBe(before);
    // a fixed-size export refuses other sizes clearly
    const small = nhwc(ref['98x70.pixel_values_nchw']);
    const err = await expectMrnRejection(enc.forwardFeatures(small), 'E_INVALID_ARGUMENT');
    expect(err.message).toMatch(/224x224/);
    small.dispose();
    await enc.dispose();
    await expectMrnRejection(enc.forwardFeatures(tf.zeros([1, 224, 224, 3])), 'E_INVALID_ARGUMENT');
  });

  it('splits last_hidden_state (Optimum-style export) into CLS, registers and patches', async () => {
    const enc = await OnnxVitEncoder.create(OWN('reg-f16/model_224x224.onnx'));
    expect([enc.embedDim, enc.numRegisters]).toEqual([32, 4]);
    const ref = await readSafetensors(OWN('reg-f16/reference_io.safetensors'));
    const x = nhwc(ref['224x224.pixel_values_nchw']);
    const f = await enc.forwardFeatures(x);
    const errs = [
      maxAbsDiff(f.cls, ref['224x224.cls']),
      maxAbsDiff(f.registers!, ref['224x224.registers']),
      maxAbsDiff(f.patch, ref['224x224.patch']),
    ];
    console.log('onnx reg-f16 224x224 max abs', errs);
    for (const e of errs) expect(e).toBeLessThan(1e-4);
    tf.dispose([x, f.cls, f.patch, f.registers!]);
    await enc.dispose();
  });

  it('fails clearly on a missing file, a non-ONNX file, and wrong input shapes', async () => {
    await expectMrnRejection(OnnxVitEncoder.create('/nonexistent/model.onnx'), 'E_FILE_NOT_FOUND');
    await expectMrnRejection(OnnxVitEncoder.create(new Uint8Array([1, 2, 3, 4])), 'E_CHECKPOINT');
    const enc = await OnnxVitEncoder.create(REFERENCE('dinov2-tiny/model_224x224.onnx'));
    await expectMrnRejection(
      enc.forwardFeatures(tf.zeros([1, 224, 224, 1]) as tf.Tensor4D),
      'E_INVALID_ARGUMENT',
    );
    await enc.dispose();
  });

  it('wraps an onnxruntime that cannot load the model as E_CHECKPOINT (injected module)', async () => {
    const broken = {
      InferenceSession: {
        create: async () => {
          throw new Error('boom');
        },
      },
      Tensor: class {},
    } as never;
    await expectMrnRejection(OnnxVitEncoder.create(new Uint8Array(8), { ort: broken }), 'E_CHECKPOINT');
  });
});
