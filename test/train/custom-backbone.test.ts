import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend.js';
import { customBackbone, weightsFingerprint } from '../../src/train/custom-backbone.js';
import { expectMrnError } from '../helpers/errors.js';

/** A tiny LayersModel backbone: [M, 14, 14, 3] -> [cls [M, 4], patch [M, 4, 4]] (patch 7). */
function tinyModel(seed: number): tf.LayersModel {
  const input = tf.input({ shape: [14, 14, 3] });
  const conv = tf.layers
    .conv2d({
      filters: 4,
      kernelSize: 7,
      strides: 7,
      kernelInitializer: tf.initializers.glorotNormal({ seed }),
    })
    .apply(input) as tf.SymbolicTensor;
  const patch = tf.layers.reshape({ targetShape: [4, 4] }).apply(conv) as tf.SymbolicTensor;
  const cls = tf.layers.globalAveragePooling1d().apply(patch) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: [cls, patch] });
}

beforeAll(async () => {
  await selectBackend({ backend: 'cpu' });
});

describe('customBackbone', () => {
  it('fingerprints the weights (values and shapes, not names) and records kind custom', () => {
    const before = tf.memory().numTensors;
    const a = tinyModel(1);
    const b = tinyModel(1); // same values, other layer names
    const c = tinyModel(2);
    const ra = customBackbone(a, { name: 'lab', patchSize: 7 });
    expect(ra.info).toMatchObject({ kind: 'custom', preset: 'lab', embedDim: 4 });
    expect(ra.info.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(customBackbone(b, { name: 'lab', patchSize: 7 }).info.sha256).toBe(ra.info.sha256);
    expect(customBackbone(c, { name: 'lab', patchSize: 7 }).info.sha256).not.toBe(ra.info.sha256);
    // A changed value or a reshaped weight changes the fingerprint.
    const w = tf.tensor1d([1, 2, 3, 4]);
    const w2 = tf.tensor1d([1, 2, 3, 5]);
    const w3 = tf.tensor2d([1, 2, 3, 4], [2, 2]);
    expect(weightsFingerprint([w])).not.toBe(weightsFingerprint([w2]));
    expect(weightsFingerprint([w])).not.toBe(weightsFingerprint([w3]));
    tf.dispose([w, w2, w3]);
    ra.dispose();
    b.dispose();
    c.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('needs a sha256 for a backbone without tfjs weights, and a name', () => {
    const fn = (x: tf.Tensor4D) => ({
      cls: tf.zeros([x.shape[0], 4]) as tf.Tensor2D,
      patch: tf.zeros([x.shape[0], 4, 4]) as tf.Tensor3D,
    });
    expectMrnError(
      () => customBackbone(fn, { name: 'fn', patchSize: 7, embedDim: 4 }),
      'E_CONFIG',
      /no tfjs weights/,
    );
    expectMrnError(
      () => customBackbone(fn, { name: '', patchSize: 7, embedDim: 4, sha256: 'ab' }),
      'E_CONFIG',
      /name/,
    );
    const r = customBackbone(fn, { name: 'fn', patchSize: 7, embedDim: 4, sha256: 'ab' });
    expect(r.info).toMatchObject({ kind: 'custom', preset: 'fn', sha256: 'ab', embedDim: 4 });
  });
});
