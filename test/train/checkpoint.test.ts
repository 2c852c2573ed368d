import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRng, MRN_VERSION, selectBackend } from '../../src/index.js';
import {
  fingerprintPath,
  readCheckpointMeta,
  restoreOptimizerState,
  sha256File,
  writeCheckpoint,
} from '../../src/train/checkpoint.js';
import { diceCounts, diceFromCounts, RoiDiceAccumulator } from '../../src/train/aux-dice.js';

let dir: string;
beforeAll(async () => {
  await selectBackend({ backend: 'cpu' });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mrn-ckpt-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A tiny quadratic problem: w -> target, trained with Adam. */
function makeProblem() {
  const w = tf.variable(tf.tensor1d([1, -2, 3]), true, `w_${Math.random()}`);
  const target = tf.tensor1d([0.5, 0.5, 0.5]);
  const step = (opt: tf.Optimizer) =>
    opt.minimize(() => tf.sum(tf.square(tf.sub(w, target))) as tf.Scalar, false, [w]);
  return { w, target, step };
}

describe('checkpoints', () => {
  it('fingerprint files and folders by content, not location', () => {
    const a = path.join(dir, 'fp-a');
    const b = path.join(dir, 'fp-b');
    for (const d of [a, b]) {
      fs.mkdirSync(path.join(d, 'sub'), { recursive: true });
      fs.writeFileSync(path.join(d, 'config.json'), '{"x":1}');
      fs.writeFileSync(path.join(d, 'sub', 'w.bin'), Buffer.from([1, 2, 3]));
    }
    expect(fingerprintPath(a)).toBe(fingerprintPath(b));
    expect(sha256File(path.join(a, 'config.json'))).toBe(
      // sha256('{"x":1}')
      '5041bf1f713df204784353e82f6a4a535931cb64f1f4b4a5aeaffcb720918b22',
    );
    fs.writeFileSync(path.join(b, 'sub', 'w.bin'), Buffer.from([1, 2, 4]));
    expect(fingerprintPath(a)).not.toBe(fingerprintPath(b));
    expect(() => fingerprintPath(path.join(dir, 'nope'))).toThrow(
      expect.objectContaining({ code: 'E_FILE_NOT_FOUND' }),
    );
  });

  it('round-trip metadata and resume Adam exactly as an uninterrupted run', async () => {
    // Uninterrupted: 6 steps.
    const ref = makeProblem();
    const refOpt = tf.train.adam(0.1);
    for (let i = 0; i < 6; i++) ref.step(refOpt);
    const refW = ref.w.dataSync().slice();

    // Interrupted: 3 steps, checkpoint, fresh optimiser + weights restored, 3 more steps.
    const run = makeProblem();
    const opt = tf.train.adam(0.1);
    for (let i = 0; i < 3; i++) run.step(opt);
    const rng = createRng(9);
    rng.next();
    const ckpt = path.join(dir, 'last');
    const savedW = run.w.dataSync().slice();
    const beforeWrite = tf.memory().numTensors;
    const meta = await writeCheckpoint(
      ckpt,
      {
        role: 'last',
        epoch: 3,
        step: 3,
        modelConfig: { tiny: true },
        trainConfig: { lr: 0.1 },
        preprocessing: { size: 28 },
        backbone: { kind: 'random', preset: 'vit-test', sha256: 'abc' },
        rngState: rng.state(),
      },
      {
        saveModel: async (d) => fs.writeFileSync(path.join(d, 'w.json'), JSON.stringify(Array.from(savedW))),
        optimizer: opt,
      },
    );
    expect(tf.memory().numTensors).toBe(beforeWrite);
    expect(meta.mrnVersion).toBe(MRN_VERSION);
    const read = readCheckpointMeta(ckpt);
    expect(read).toEqual(meta);
    expect(createRng(read.rngState).next()).toBe(rng.next());

    const resumed = makeProblem();
    const loaded = tf.tensor1d(JSON.parse(fs.readFileSync(path.join(ckpt, 'model', 'w.json'), 'utf8')));
    resumed.w.assign(loaded);
    loaded.dispose();
    const opt2 = tf.train.adam(0.1);
    const beforeRestore = tf.memory().numTensors;
    await restoreOptimizerState(ckpt, opt2);
    // Exactly the two slot variables per weight (m and v) appear.
    expect(tf.memory().numTensors - beforeRestore).toBe(2);
    for (let i = 0; i < 3; i++) resumed.step(opt2);
    expect(Array.from(resumed.w.dataSync())).toEqual(Array.from(refW));

    // Without the exact bias-correction scalars, tfjs recomputes beta^t; make sure we did restore them.
    expect((opt2 as unknown as { accBeta1: tf.Variable }).accBeta1.dataSync()[0]).toBe(
      (refOpt as unknown as { accBeta1: tf.Variable }).accBeta1.dataSync()[0],
    );

    // Rewriting replaces the folder atomically (no temp folders left).
    await writeCheckpoint(ckpt, { ...read, epoch: 4 }, { saveModel: async () => {} });
    expect(readCheckpointMeta(ckpt).epoch).toBe(4);
    expect(fs.readdirSync(dir).filter((n) => n.includes('.tmp-') || n.includes('.old-'))).toEqual([]);
    const opt3 = tf.train.adam(0.1);
    await expect(restoreOptimizerState(ckpt, opt3)).rejects.toThrow(/no optimiser state/);
    opt3.dispose();

    for (const p of [ref, run, resumed]) tf.dispose([p.w, p.target]);
    for (const o of [refOpt, opt, opt2]) o.dispose();
  });

  it('refuse folders that are not mrn checkpoints, newer formats and optimiser mismatches', async () => {
    const bad = path.join(dir, 'bad');
    fs.mkdirSync(bad);
    expect(() => readCheckpointMeta(bad)).toThrow(expect.objectContaining({ code: 'E_FILE_NOT_FOUND' }));
    fs.writeFileSync(path.join(bad, 'checkpoint.json'), '{not json');
    expect(() => readCheckpointMeta(bad)).toThrow(expect.objectContaining({ code: 'E_CHECKPOINT' }));
    fs.writeFileSync(path.join(bad, 'checkpoint.json'), JSON.stringify({ format: 'other' }));
    expect(() => readCheckpointMeta(bad)).toThrow(/not an mrn checkpoint/);
    fs.writeFileSync(
      path.join(bad, 'checkpoint.json'),
      JSON.stringify({ format: 'mrn-checkpoint', formatVersion: 99 }),
    );
    expect(() => readCheckpointMeta(bad)).toThrow(/newer/);

    const p = makeProblem();
    const sgd = tf.train.sgd(0.1);
    p.step(sgd);
    const ck = path.join(dir, 'sgd');
    await writeCheckpoint(
      ck,
      {
        role: 'best',
        epoch: 1,
        step: 1,
        modelConfig: {},
        trainConfig: {},
        preprocessing: {},
        backbone: { kind: 'random', sha256: 'x' },
        rngState: createRng(1).state(),
      },
      { saveModel: async () => {}, optimizer: sgd },
    );
    await expect(restoreOptimizerState(ck, tf.train.adam(0.1))).rejects.toThrow(/SGD.*Adam/);
    tf.dispose([p.w, p.target]);
  });
});

describe('aux Dice', () => {
  it('matches hand-computed counts and ignores padding slices', () => {
    // B=1, D=2, 2x2 slices, 3 classes. Slice 1 is padding.
    const truth = tf.tensor4d(
      [
        [
          [
            [1, 1],
            [0, 2],
          ],
          [
            [2, 2],
            [2, 2],
          ],
        ],
      ],
      undefined,
      'int32',
    );
    // Predict classes: slice0 = [[1,0],[0,2]], slice1 = all 1 (must be ignored).
    const oneHot = (c: number) => [0, 1, 2].map((k) => (k === c ? 5 : 0));
    const logits = tf.tensor5d([
      [
        [
          [oneHot(1), oneHot(0)],
          [oneHot(0), oneHot(2)],
        ],
        [
          [oneHot(1), oneHot(1)],
          [oneHot(1), oneHot(1)],
        ],
      ],
    ]);
    const valid = tf.tensor2d([[1, 0]]);
    const before = tf.memory().numTensors;
    const c = diceCounts(logits as tf.Tensor5D, truth, valid);
    expect(tf.memory().numTensors).toBe(before);
    expect(c).toEqual({ overlap: [1, 1, 1], predicted: [2, 1, 1], truth: [1, 2, 1] });
    const d = diceFromCounts(c);
    expect(d.perClass[0]).toBeCloseTo(2 / 3, 12);
    expect(d.perClass[1]).toBe(1);
    expect(d.mean).toBeCloseTo((2 / 3 + 1) / 2, 12);
    const acc = new RoiDiceAccumulator();
    acc.add('qsm-mb', logits as tf.Tensor5D, truth, valid);
    acc.add('qsm-mb', logits as tf.Tensor5D, truth, valid);
    expect(acc.result()['qsm-mb']).toBeCloseTo(d.mean, 12);
    expect(() => diceCounts(logits as tf.Tensor5D, truth, tf.zeros([2, 2]) as tf.Tensor2D)).toThrow(
      /valid shape/,
    );
    expect(diceFromCounts({ overlap: [4, 0], predicted: [4, 0], truth: [4, 0] }).mean).toBeNaN();
    tf.dispose([truth, logits, valid]);
  });
});
