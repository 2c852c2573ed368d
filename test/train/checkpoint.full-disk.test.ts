import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend.js';
import { setFileLayer } from '../../src/io/atomic-write.js';
import { fileSystemIO } from '../../src/io/file-system-io.js';
import { createRng } from '../../src/rng.js';
import { readCheckpointMeta, restoreOptimizerState, writeCheckpoint } from '../../src/train/checkpoint.js';
import { type Fault, faultyFileLayer } from '../helpers/faulty-file-layer.js';

// A checkpoint write that fails (disk full, I/O error) at ANY file operation gives E_IO
// naming the file, and the previous checkpoint stays complete, verified and loadable.

let root: string;
beforeAll(async () => {
  await selectBackend({ backend: 'cpu' });
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'mrn-enospc-'));
});
afterEach(() => void setFileLayer());
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

function tinyModel(seed: number): tf.Sequential {
  return tf.sequential({
    layers: [
      tf.layers.dense({
        units: 3,
        inputShape: [4],
        kernelInitializer: tf.initializers.randomNormal({ seed }),
      }),
    ],
  });
}

async function save(dir: string, epoch: number, model: tf.Sequential, opt: tf.Optimizer): Promise<void> {
  await writeCheckpoint(
    dir,
    {
      role: 'last',
      epoch,
      step: epoch * 2,
      modelConfig: {},
      trainConfig: {},
      preprocessing: {},
      backbone: { kind: 'random', sha256: 'ab' },
      rngState: createRng(epoch).state(),
    },
    { saveModel: async (d) => void (await model.save(fileSystemIO(d))), optimizer: opt },
  );
}

async function loadWeights(dir: string): Promise<Float32Array> {
  const a = await fileSystemIO(path.join(dir, 'model')).load!();
  return new Float32Array(a.weightData as ArrayBuffer);
}

describe('full disk and I/O errors', () => {
  it('every failing operation of a checkpoint write gives E_IO naming the file; the previous checkpoint survives', async () => {
    const dir = path.join(root, 'last');
    const model = tinyModel(1);
    const opt = tf.train.adam(0.01);
    opt.minimize(() => tf.sum(model.apply(tf.ones([1, 4])) as tf.Tensor) as tf.Scalar);
    await save(dir, 1, model, opt);
    const before = await loadWeights(dir);

    // Count the operations of one clean write, then fail each of them in turn.
    const counter = faultyFileLayer();
    setFileLayer(counter);
    await save(path.join(root, 'count'), 1, model, opt);
    setFileLayer();
    const calls = { ...counter.calls };
    expect(calls.write).toBeGreaterThan(3);

    const changed = tinyModel(2);
    const faults: Fault[] = [];
    for (const op of ['open', 'write', 'fsync', 'rename', 'mkdir'] as const) {
      for (let at = 0; at < calls[op]; at++) faults.push({ op, at, code: at % 2 ? 'EIO' : 'ENOSPC' });
    }
    expect(faults.length).toBeGreaterThan(15);
    const newInPlace: string[] = [];
    for (const fault of faults) {
      setFileLayer(faultyFileLayer(fault));
      let error: unknown;
      try {
        await save(dir, 2, changed, opt);
      } catch (e) {
        error = e;
      } finally {
        setFileLayer();
      }
      const where = `${fault.op} #${fault.at} ${fault.code}`;
      expect(error, where).toMatchObject({ code: 'E_IO' });
      const e = error as { file: string; message: string };
      expect(e.file, where).toContain(root);
      expect(e.message, where).toContain(e.file);
      expect(e.message, where).toContain(fault.code);
      // The previous checkpoint: verified (checksums), epoch 1, same weights, optimiser restorable.
      // Only when the last step (the fsync of the parent folder after the swap) fails is the
      // new checkpoint already complete in place; it then verifies just as well.
      const epoch = readCheckpointMeta(dir).epoch;
      if (epoch === 2) {
        newInPlace.push(where);
        await save(dir, 1, model, opt); // back to the previous one for the next fault
      }
      expect(await loadWeights(dir), where).toEqual(before);
      const fresh = tf.train.adam(0.01);
      await restoreOptimizerState(dir, fresh);
      fresh.dispose();
      // Nothing half-written is left beside it.
      expect(
        fs.readdirSync(root).filter((n) => n.startsWith('last.')),
        where,
      ).toEqual([]);
    }
    const name = (op: string, at: number) => `${op} #${at} ${at % 2 ? 'EIO' : 'ENOSPC'}`;
    // The open and the fsync of the parent folder after the swap (the durability step).
    expect(newInPlace).toEqual([name('open', calls.open - 1), name('fsync', calls.fsync - 1)]);
    // With a healthy disk again, the next write succeeds.
    await save(dir, 2, changed, opt);
    expect(readCheckpointMeta(dir).epoch).toBe(2);
    tf.dispose([model, changed, opt] as unknown as tf.Tensor[]);
  });
});
