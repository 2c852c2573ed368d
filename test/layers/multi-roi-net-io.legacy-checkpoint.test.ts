/**
 * A checkpoint saved before weight names were unified (test/fixtures/checkpoint-v0, made by its
 * make.ts with the code of 2026-12-01) still loads, and gives the outputs it gave when it was saved.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend.js';
import { MultiRoiNet } from '../../src/layers/multi-roi-net.js';
import { VisionTransformer } from '../../src/layers/vit/vision-transformer.js';
import { CHECKPOINT_V0_VIT, checkpointV0Batch, outputsAsJson } from '../fixtures/checkpoint-v0/inputs.js';

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'checkpoint-v0');

beforeAll(async () => {
  await selectBackend({ backend: 'cpu' });
});

describe('checkpoint-v0 (saved before the weight-name unification)', () => {
  it('loads and reproduces its saved outputs within 1e-6', async () => {
    const expected = JSON.parse(readFileSync(path.join(dir, 'expected.json'), 'utf8')) as Record<
      string,
      number[]
    >;
    // A differently named and seeded backbone: every backbone weight must come from the file, and the
    // layer name of the backbone saved with it (fixture_vit) must not matter.
    const vit = new VisionTransformer({ ...CHECKPOINT_V0_VIT, seed: 77, name: 'another_name' });
    vit.ensureBuilt();
    const model = await MultiRoiNet.load(dir, { backbone: vit });
    const batch = checkpointV0Batch();
    // The first pass caches the backbone's position embedding for this grid; the second must not leak.
    tf.dispose(model.apply(batch) as unknown as tf.TensorContainer);
    const start = tf.memory().numTensors;
    const out = model.apply(batch);
    const actual = outputsAsJson(out);
    tf.dispose(out as unknown as tf.TensorContainer);
    expect(tf.memory().numTensors).toBe(start);
    tf.dispose(batch as unknown as tf.TensorContainer);
    expect(Object.keys(actual).sort()).toEqual(Object.keys(expected).sort());
    for (const [name, values] of Object.entries(expected)) {
      const got = actual[name]!;
      expect(got.length, name).toBe(values.length);
      const worst = Math.max(...values.map((v, i) => Math.abs(v - got[i]!)));
      expect(worst, name).toBeLessThanOrEqual(1e-6);
    }
    model.dispose();
    vit.dispose();
  });
});
