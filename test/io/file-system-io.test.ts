import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend.js';
import { concatWeightData, fileSystemIO } from '../../src/io/file-system-io.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'mrn-io-'));
beforeAll(async () => {
  await selectBackend({ backend: 'cpu' });
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('fileSystemIO', () => {
  it('saves a tfjs LayersModel as model.json + weights.bin and loads it back with identical outputs', async () => {
    const model = tf.sequential({
      layers: [
        tf.layers.dense({
          inputShape: [4],
          units: 3,
          activation: 'relu',
          kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }),
        }),
        tf.layers.dense({ units: 2, kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }),
      ],
    });
    const dir = path.join(tmp, 'seq');
    const result = await model.save(fileSystemIO(dir));
    expect(result.modelArtifactsInfo.weightDataBytes).toBe((4 * 3 + 3 + 3 * 2 + 2) * 4);
    const json = JSON.parse(readFileSync(path.join(dir, 'model.json'), 'utf8'));
    expect(json.format).toBe('layers-model');
    expect(json.weightsManifest[0].paths).toEqual(['./weights.bin']);
    expect(readFileSync(path.join(dir, 'weights.bin')).byteLength).toBe(
      result.modelArtifactsInfo.weightDataBytes,
    );
    const loaded = await tf.loadLayersModel(fileSystemIO(dir));
    const x = tf.tensor2d([[1, -2, 3, 0.5]]);
    const a = model.predict(x) as tf.Tensor;
    const b = loaded.predict(x) as tf.Tensor;
    expect(Array.from(await b.data())).toEqual(Array.from(await a.data()));
    tf.dispose([x, a, b]);
    model.dispose();
    loaded.dispose();
  });

  it('reports a missing directory or weights file as MrnErrors', async () => {
    await expect(fileSystemIO(path.join(tmp, 'absent')).load!()).rejects.toMatchObject({
      code: 'E_FILE_NOT_FOUND',
    });
  });

  it('concatenates split weight buffers', () => {
    const joined = new Uint8Array(
      concatWeightData([new Uint8Array([1, 2]).buffer, new Uint8Array([3]).buffer]),
    );
    expect(Array.from(joined)).toEqual([1, 2, 3]);
  });
});
