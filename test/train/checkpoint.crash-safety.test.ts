import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend.js';
import { fileSystemIO } from '../../src/io/file-system-io.js';
import { createRng } from '../../src/rng.js';
import { readCheckpointMeta, recoverCheckpoint, writeCheckpoint } from '../../src/train/checkpoint.js';

let root: string;
beforeAll(async () => {
  await selectBackend({ backend: 'cpu' });
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'mrn-crashsafe-'));
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

async function save(dir: string, epoch: number): Promise<void> {
  const model = tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [2] })] });
  await writeCheckpoint(
    dir,
    {
      role: 'last',
      epoch,
      step: epoch,
      modelConfig: {},
      trainConfig: {},
      preprocessing: {},
      backbone: { kind: 'random', sha256: 'ab' },
      rngState: createRng(epoch).state(),
    },
    { saveModel: async (d) => void (await model.save(fileSystemIO(d))) },
  );
  model.dispose();
}

describe('crash safety of run files', () => {
  it('a crash between the two renames of a checkpoint swap is repaired with the newer complete checkpoint', async () => {
    const dir = path.join(root, 'swap', 'last');
    await save(dir, 1);
    await save(`${dir}.tmp-99999`, 2); // complete new checkpoint under its temporary name
    fs.renameSync(dir, `${dir}.old-99999`); // the previous one moved aside, then the crash
    expect(recoverCheckpoint(dir)).toMatch(/restored .* from last\.tmp-99999/);
    expect(readCheckpointMeta(dir).epoch).toBe(2);
    expect(fs.readdirSync(path.dirname(dir))).toEqual(['last']);
  });

  it('an incomplete temporary checkpoint is never used: the previous one is restored', async () => {
    const dir = path.join(root, 'swap2', 'last');
    await save(dir, 1);
    await save(`${dir}.tmp-99998`, 2);
    fs.rmSync(path.join(`${dir}.tmp-99998`, 'checksums.sha256')); // torn: its list was never written
    fs.renameSync(dir, `${dir}.old-99998`);
    recoverCheckpoint(dir);
    expect(readCheckpointMeta(dir).epoch).toBe(1);
  });

  it('a damaged checkpoint file is refused with E_CHECKPOINT naming it', async () => {
    const dir = path.join(root, 'damaged');
    await save(dir, 1);
    const weights = path.join(dir, 'model', 'weights.bin');
    const bytes = fs.readFileSync(weights);
    bytes[0] ^= 1;
    fs.writeFileSync(weights, bytes);
    expect(() => readCheckpointMeta(dir)).toThrow(
      expect.objectContaining({ code: 'E_CHECKPOINT', file: weights }),
    );
    fs.writeFileSync(path.join(dir, 'stray.bin'), 'x');
    fs.writeFileSync(weights, ((bytes[0] ^= 1), bytes));
    expect(() => readCheckpointMeta(dir)).toThrow(/stray\.bin is not in checksums\.sha256/);
  });

  it('a checksum list cut short by one byte (its last newline) is refused (fuzzer finding)', async () => {
    const dir = path.join(root, 'cut-list');
    await save(dir, 1);
    const list = path.join(dir, 'checksums.sha256');
    const text = fs.readFileSync(list, 'utf8');
    fs.writeFileSync(list, text.slice(0, -1));
    expect(() => readCheckpointMeta(dir)).toThrow(
      expect.objectContaining({ code: 'E_CHECKPOINT', file: list }),
    );
  });
});
