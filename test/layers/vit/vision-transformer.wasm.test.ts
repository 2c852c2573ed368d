import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../../src/backend.js';
import { readSafetensors } from '../../../src/io/safetensors.js';
import { isMrnError } from '../../../src/errors.js';
import { loadDinov2 } from '../../../src/layers/vit/load-dinov2.js';
import { VisionTransformer } from '../../../src/layers/vit/vision-transformer.js';
import { VIT_PRESETS, assertVitFitsBackend } from '../../../src/layers/vit/vit-config.js';
import { REFERENCE, nhwc } from '../helpers/golden-suite.js';
import { checkErfGradient, checkPartialTuning } from '../helpers/vit-training-check.js';
import { rejectionOf, thrownBy } from '../../helpers/errors.js';

describe('VisionTransformer on wasm', () => {
  beforeAll(async () => {
    await selectBackend({ backend: 'wasm' });
  });

  it('refuses models whose weights cannot fit the 4 GiB heap, before allocating anything', async () => {
    const before = tf.memory();
    const err = thrownBy(() => new VisionTransformer({ preset: 'dinov2-giant' }));
    expect(isMrnError(err, 'E_MEMORY')).toBe(true);
    expect((err as Error).message).toMatch(/4\.00 GiB/);
    const err2 = await rejectionOf(() => loadDinov2({ config: 'dinov2-with-registers-giant', weights: {} }));
    expect(isMrnError(err2, 'E_MEMORY')).toBe(true); // refused before the (empty) weights are even checked
    expect(tf.memory().numTensors).toBe(before.numTensors);
    expect(tf.memory().numBytes).toBe(before.numBytes);
    // large (1.2 GB) fits; the same giant is fine on other backends
    expect(() => assertVitFitsBackend(VIT_PRESETS['dinov2-large'], 'wasm')).not.toThrow();
    expect(() => assertVitFitsBackend(VIT_PRESETS['dinov2-giant'], 'tensorflow')).not.toThrow();
  });

  it('trains only the unfrozen blocks (exact-erf GELU gradient on wasm)', async () => {
    const vit = await loadDinov2(REFERENCE('dinov2-tiny'));
    const ref = await readSafetensors(REFERENCE('dinov2-tiny/reference_io.safetensors'));
    const x = nhwc(ref['98x70.pixel_values_nchw']);
    checkErfGradient();
    checkPartialTuning(vit, x);
    x.dispose();
    vit.dispose();
  });
});
