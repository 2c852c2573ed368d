import * as tf from '@tensorflow/tfjs';
import fc from 'fast-check';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend.js';
import { createRng } from '../../src/rng.js';
import { fileSystemIO } from '../../src/io/file-system-io.js';
import { readCheckpointMeta, restoreOptimizerState, writeCheckpoint } from '../../src/train/checkpoint.js';
import { readEnsembleManifest } from '../../src/predict/load-mrn.js';
import {
  byteMutation,
  decodeOrMrnError,
  decodeOrMrnErrorAsync,
  EXTREME_INTS,
  fuzzParams,
  fuzzTimeout,
  mutate,
} from './fuzz-support.js';

// The files a run folder's checkpoints consist of, each mutated alone; every reader must return a
// consistent value or refuse with E_CHECKPOINT (naming the file), never TypeError/SyntaxError/RangeError.
const CODES = ['E_CHECKPOINT'] as const;
// A damaged model.json may point at a weights file that is not there: that file is named instead.
const MODEL_CODES = ['E_CHECKPOINT', 'E_FILE_NOT_FOUND'] as const;
let root: string;
let ckpt: string;
let pristine: Record<string, Uint8Array>;
const FILES = ['checkpoint.json', 'optimizer.json', 'optimizer.bin', 'model/model.json', 'model/weights.bin'];

beforeAll(async () => {
  await selectBackend({ backend: 'cpu' });
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'mrn-fuzz-ckpt-'));
  ckpt = path.join(root, 'last');
  const model = tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [3] })] });
  const opt = tf.train.adam(0.1);
  opt.minimize(() => tf.sum(model.apply(tf.ones([1, 3])) as tf.Tensor) as tf.Scalar);
  await writeCheckpoint(
    ckpt,
    {
      role: 'last',
      epoch: 3,
      step: 12,
      modelConfig: { units: 2 },
      trainConfig: { epochs: 5 },
      preprocessing: { size: 28 },
      backbone: { kind: 'random', preset: 'vit-test', sha256: 'ab'.repeat(32) },
      rngState: createRng(3).state(),
      metrics: { auc: 0.5 },
    },
    { saveModel: async (d) => void (await model.save(fileSystemIO(d))), optimizer: opt },
  );
  opt.dispose();
  model.dispose();
  pristine = Object.fromEntries(FILES.map((f) => [f, new Uint8Array(fs.readFileSync(path.join(ckpt, f)))]));
  fs.writeFileSync(
    path.join(root, 'model.json'),
    JSON.stringify({
      format: 'mrn-ensemble',
      formatVersion: 1,
      mrnVersion: '0.1.0',
      members: ['last'],
      backbone: { kind: 'random', sha256: 'ab'.repeat(32) },
      preprocessing: { size: 28 },
    }),
  );
  pristine['../model.json'] = new Uint8Array(fs.readFileSync(path.join(root, 'model.json')));
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

function restore(): void {
  for (const [f, b] of Object.entries(pristine)) fs.writeFileSync(path.join(ckpt, f), b);
}

/** JSON-level hostility: a field replaced by a value of the wrong type or range, or removed. */
const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(null, undefined, true, '', 'x', [], {}, [null], { s: [1, 2] }, -1, 1.5, NaN),
  fc.constantFrom(...EXTREME_INTS),
  fc.jsonValue({ maxDepth: 2 }),
);

function jsonFieldMutation(text: string, pick: number, value: unknown, deep: number): string {
  let obj: unknown = JSON.parse(text);
  if (deep % 5 === 0) return JSON.stringify(value) ?? 'null';
  let target = obj as Record<string, unknown>;
  // Walk into a nested object sometimes (backbone, rngState, specs[i], weightsManifest[0]...).
  for (let d = 0; d < deep % 3; d++) {
    const kids = Object.entries(target).filter(([, v]) => v !== null && typeof v === 'object');
    if (!kids.length) break;
    target = kids[pick % kids.length]![1] as Record<string, unknown>;
  }
  const keys = Object.keys(target);
  if (!keys.length) return JSON.stringify(obj);
  const key = keys[pick % keys.length]!;
  if (value === undefined) delete target[key];
  else target[key] = value;
  obj = obj ?? null;
  return JSON.stringify(obj);
}

/** Which reader is responsible for a file. */
async function readAll(file: string): Promise<void> {
  if (file === '../model.json') {
    const where = path.join(root, 'model.json');
    const m = decodeOrMrnError(() => readEnsembleManifest(where), where, CODES);
    if (m) for (const p of m.members) expect(typeof p).toBe('string');
    return;
  }
  const where = path.join(ckpt, file);
  if (file === 'checkpoint.json') {
    const meta = decodeOrMrnError(() => readCheckpointMeta(ckpt, { verify: false }), where, CODES);
    if (meta) {
      expect(Number.isInteger(meta.epoch) && meta.epoch >= 0).toBe(true);
      expect(typeof meta.backbone.sha256).toBe('string');
      createRng(meta.rngState); // a state that passed validation must restore
    }
  } else if (file.startsWith('optimizer')) {
    const opt = tf.train.adam(0.1);
    const before = tf.memory().numTensors;
    // Either file may be the culprit; both are named by the error.
    try {
      await decodeOrMrnErrorAsync(() => restoreOptimizerState(ckpt, opt), /optimizer\.(json|bin)$/, CODES);
    } finally {
      opt.dispose();
    }
    expect(tf.memory().numTensors).toBeLessThanOrEqual(before);
  } else {
    const dir = path.join(ckpt, 'model');
    const a = await decodeOrMrnErrorAsync(
      () => fileSystemIO(dir).load!(),
      new RegExp(`^${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/`),
      MODEL_CODES,
    );
    if (a) expect(a.weightData).toBeInstanceOf(ArrayBuffer);
  }
}

const target = fc.constantFrom(...FILES, '../model.json');

describe('checkpoint files under fuzzing', () => {
  it(
    'any byte change of any file is caught by the checksums: E_CHECKPOINT naming the file',
    () => {
      const all = [...FILES, 'checksums.sha256'];
      fc.assert(
        fc.property(
          fc.constantFrom(...all).chain((f) => {
            const bytes = new Uint8Array(fs.readFileSync(path.join(ckpt, f)));
            return fc.tuple(
              fc.constant(f),
              fc.constant(bytes),
              byteMutation(bytes.length, [0, bytes.length >> 1, bytes.length - 1]),
            );
          }),
          ([file, bytes, m]) => {
            restore();
            const damaged = mutate(bytes, m);
            if (damaged.length === bytes.length && damaged.every((v, i) => v === bytes[i])) return;
            const where = path.join(ckpt, file);
            fs.writeFileSync(where, damaged);
            try {
              expect(() => readCheckpointMeta(ckpt)).toThrow(
                expect.objectContaining({ code: 'E_CHECKPOINT' }),
              );
              // The list itself may be the damaged file; otherwise the error names the damaged file.
              if (file !== 'checksums.sha256' && file !== 'checkpoint.json') {
                expect(() => readCheckpointMeta(ckpt)).toThrow(expect.objectContaining({ file: where }));
              }
            } finally {
              fs.writeFileSync(where, bytes);
            }
          },
        ),
        fuzzParams(300),
      );
      expect(readCheckpointMeta(ckpt).epoch).toBe(3);
    },
    fuzzTimeout(300, 200),
  );

  it(
    'byte mutations (truncation, bit flips, overwrites) of each file',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          target.chain((f) =>
            fc.tuple(
              fc.constant(f),
              byteMutation(pristine[f]!.length, [0, 1, pristine[f]!.length >> 1, pristine[f]!.length - 1]),
            ),
          ),
          async ([file, m]) => {
            restore();
            fs.writeFileSync(path.join(ckpt, file), mutate(pristine[file]!, m));
            await readAll(file);
          },
        ),
        fuzzParams(1000),
      );
    },
    fuzzTimeout(1000, 60),
  );

  it(
    'JSON fields of the wrong type or range, or missing',
    async () => {
      const jsonFiles = fc.constantFrom(
        'checkpoint.json',
        'optimizer.json',
        'model/model.json',
        '../model.json',
      );
      await fc.assert(
        fc.asyncProperty(jsonFiles, fc.nat(), hostileValue, fc.nat(), async (file, pick, value, deep) => {
          restore();
          const text = new TextDecoder().decode(pristine[file]);
          fs.writeFileSync(path.join(ckpt, file), jsonFieldMutation(text, pick, value, deep));
          await readAll(file);
        }),
        fuzzParams(700),
      );
    },
    fuzzTimeout(700, 60),
  );
});
