import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRng, selectBackend } from '../../src/index.js';
import { MultiRoiNet } from '../../src/layers/multi-roi-net.js';
import { readCheckpointMeta } from '../../src/train/checkpoint.js';
import { readEpochLog } from '../../src/train/epoch-log.js';
import { evaluateOnFeatures, predictFromFeatures } from '../../src/train/evaluate.js';
import {
  type FeatureSource,
  type LabelledCase,
  type RoiFeatures,
  makeFeatureBatch,
  disposeBatch,
} from '../../src/train/feature-batch.js';
import { resolveTrainOptions, trainOnFeatures } from '../../src/train/trainer.js';

// Tiny cached-feature world: 2 ROIs, D=3 slices, N=4 tokens (S=28, patch 14), E=8.
const S = 28;
const N = 4;
const E = 8;
const D = 3;
const ROIS = ['roi-a', 'roi-b'];

/** Features whose CLS tokens carry a noisy class signal; masks mark a nucleus in the middle. */
function makeSource(cases: LabelledCase[], variants: number, seed: number): FeatureSource {
  const rng = createRng(seed);
  const store = new Map<string, RoiFeatures>();
  for (const c of cases) {
    for (const roi of ROIS) {
      for (let v = 0; v < variants; v++) {
        const patch = new Float32Array(D * N * E).map(() => rng.normal(0, 1));
        const cls = new Float32Array(D * E).map(
          (_, i) => rng.normal(0, 1) + (i % E < 2 ? (c.label - 0.5) * 1.5 : 0),
        );
        const masks = new Int32Array(D * S * S).map((_, i) => {
          const x = i % S;
          const y = Math.floor(i / S) % S;
          return Math.abs(x - 14) < 5 && Math.abs(y - 14) < 5 ? 1 : 0;
        });
        store.set(`${c.caseId}/${roi}/${v}`, {
          depth: D,
          tokens: N,
          embedDim: E,
          patch,
          cls,
          valid: [1, 1, 1],
          size: S,
          masks,
        });
      }
    }
  }
  return {
    roiIds: ROIS,
    variants,
    get: (caseId, roiId, v) => {
      const f = store.get(`${caseId}/${roiId}/${v}`);
      if (!f) throw new Error(`no features for ${caseId}/${roiId}/${v}`);
      return f;
    },
  };
}

const modelConfig = {
  rois: ROIS.map((id) => ({ id, numClasses: 2, slices: D })),
  preset: 'mrn-tiny' as const,
  sliceSize: S,
  backboneDim: E,
  patchSize: 14,
  seed: 3,
};
const newModel = () => new MultiRoiNet(modelConfig);
const loadModel = (dir: string) => MultiRoiNet.load(dir);
const context = {
  modelConfig,
  preprocessing: { size: S },
  backbone: { kind: 'random' as const, preset: 'test', sha256: 'feed' },
};

const cases: LabelledCase[] = Array.from({ length: 24 }, (_, i) => ({ caseId: `C${i}`, label: i % 2 }));
const train = cases.slice(0, 16);
const val = cases.slice(16);
const source = makeSource(cases, 2, 5);
const options = { epochs: 4, batchSize: 8, learningRate: 3e-3, warmupEpochs: 1, seed: 11, patience: 10 };
let dir: string;

beforeAll(async () => {
  await selectBackend({ backend: 'wasm' });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mrn-trainer-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('makeFeatureBatch', () => {
  it('stacks cached features into an MrnBatch and refuses mismatched shapes', async () => {
    const before = tf.memory().numTensors;
    const batch = await makeFeatureBatch(source, ['C0', 'C1'], [0, 1], [0, 1]);
    expect(batch.rois['roi-a']!).toMatchObject({});
    const a = batch.rois['roi-a'] as { patch: tf.Tensor; cls: tf.Tensor; valid: tf.Tensor; masks: tf.Tensor };
    expect(a.patch.shape).toEqual([2, D, N, E]);
    expect(a.cls.shape).toEqual([2, D, E]);
    expect(a.masks.shape).toEqual([2, D, S, S]);
    expect(Array.from(a.cls.dataSync().slice(D * E, D * E + 4))).toEqual(
      Array.from((source.get('C1', 'roi-a', 1) as RoiFeatures).cls.slice(0, 4)),
    );
    expect(Array.from(batch.labels!.dataSync())).toEqual([0, 1]);
    disposeBatch(batch);
    expect(tf.memory().numTensors).toBe(before);
    const odd: FeatureSource = {
      roiIds: ['roi-a'],
      variants: 1,
      get: (id) => ({ ...(source.get(id, 'roi-a', 0) as RoiFeatures), depth: id === 'C1' ? 2 : D }),
    };
    await expect(makeFeatureBatch(odd, ['C0', 'C1'], [0, 0])).rejects.toThrow(/case C1 are \[D=2/);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('trainOnFeatures', () => {
  it('learns, logs every epoch, writes best/last checkpoints, leaks nothing', async () => {
    const model = newModel();
    const before = tf.memory().numTensors;
    const startEval = await evaluateOnFeatures(model, source, val);
    const lines: string[] = [];
    const out = path.join(dir, 'full');
    const result = await trainOnFeatures({
      model,
      source,
      train,
      val,
      options: { ...options, epochs: 6 },
      outDir: out,
      checkpoint: context,
      loadModel,
      progress: false,
      log: (l) => lines.push(l),
    });
    expect(result.history).toHaveLength(6);
    expect(result.history[5]!.trainLoss).toBeLessThan(result.history[0]!.trainLoss);
    const endEval = await evaluateOnFeatures(result.model, source, val);
    expect(endEval.loss).toBeLessThan(startEval.loss);
    expect(endEval.auc).toBeGreaterThan(0.8);
    expect(Object.keys(endEval.dice).sort()).toEqual(ROIS);
    const log = readEpochLog(path.join(out, 'epochs.jsonl'));
    expect(log.map((r) => r.epoch)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(log[0]!.val).toMatchObject({
      accuracy: expect.any(Number),
      auc: expect.any(Number),
      loss: expect.any(Number),
    });
    // One line per epoch, after the automatic micro-batch size (measured once, on wasm).
    expect(lines).toHaveLength(7);
    expect(lines[0]).toMatch(/^micro-batches of 8 patients/);
    const last = readCheckpointMeta(path.join(out, 'last'));
    const best = readCheckpointMeta(path.join(out, 'best'));
    expect(last.epoch).toBe(6);
    expect(best.epoch).toBe(result.bestEpoch);
    expect(last.backbone).toEqual(context.backbone);
    expect(fs.existsSync(path.join(out, 'last', 'optimizer.bin'))).toBe(true);
    expect(fs.existsSync(path.join(out, 'best', 'optimizer.bin'))).toBe(false);
    // The returned model is the best checkpoint's.
    const bestModel = await loadModel(path.join(out, 'best', 'model'));
    const p1 = await predictFromFeatures(result.model, source, ['C16', 'C17']);
    const p2 = await predictFromFeatures(bestModel, source, ['C16', 'C17']);
    expect(p1.map((p) => p.probPd)).toEqual(p2.map((p) => p.probPd));
    expect(p1[0]!.sliceAttention['roi-a']).toHaveLength(D);
    bestModel.dispose();
    result.model.dispose(); // the trainer disposed `model` when it reloaded the best epoch, if it did
    expect(tf.memory().numTensors).toBeLessThanOrEqual(before + 1); // +1: tfjs Adam leaks one scalar on dispose
  });

  it('resumed from its last checkpoint, a run ends exactly as an uninterrupted one', async () => {
    const a = path.join(dir, 'uninterrupted');
    const b = path.join(dir, 'interrupted');
    const common = { source, train, val, options, checkpoint: context, loadModel, progress: false as const };
    const ra = await trainOnFeatures({ ...common, model: newModel(), outDir: a });
    const first = await trainOnFeatures({ ...common, model: newModel(), outDir: b, untilEpoch: 2 });
    expect(first.epochsDone).toBe(2);
    const rb = await trainOnFeatures({ ...common, model: newModel(), outDir: b });
    expect(rb.epochsDone).toBe(4);
    const la = readEpochLog(path.join(a, 'epochs.jsonl'));
    const lb = readEpochLog(path.join(b, 'epochs.jsonl'));
    const strip = (r: (typeof la)[number]) => ({ ...r, seconds: 0 });
    expect(lb.map(strip)).toEqual(la.map(strip));
    expect(fs.readFileSync(path.join(b, 'last', 'model', 'weights.bin'))).toEqual(
      fs.readFileSync(path.join(a, 'last', 'model', 'weights.bin')),
    );
    // Changing a setting that shapes the run refuses to resume.
    await expect(
      trainOnFeatures({ ...common, model: newModel(), outDir: b, options: { ...options, seed: 12 } }),
    ).rejects.toThrow(/cannot resume: seed/);
    for (const m of [ra.model, first.model, rb.model]) m.dispose();
  });

  it('without validation cases the best model is the last epoch, with no monitored value', async () => {
    const out = path.join(dir, 'no-val');
    const result = await trainOnFeatures({
      model: newModel(),
      source,
      train,
      options: { ...options, epochs: 3 },
      outDir: out,
      checkpoint: context,
      loadModel,
      progress: false,
    });
    expect(result.epochsDone).toBe(3);
    expect(result.bestEpoch).toBe(3);
    expect(result.bestValue).toBeNull();
    expect(readCheckpointMeta(path.join(out, 'best')).epoch).toBe(3);
    const bestModel = await loadModel(path.join(out, 'best', 'model'));
    const p1 = await predictFromFeatures(result.model, source, ['C16', 'C17']);
    const p2 = await predictFromFeatures(bestModel, source, ['C16', 'C17']);
    expect(p1.map((p) => p.probPd)).toEqual(p2.map((p) => p.probPd));
    bestModel.dispose();
    result.model.dispose();
  });

  it('micro-batches: measured automatically on wasm, or set; the run matches the unsplit one', async () => {
    const logs: string[] = [];
    const run = (microBatchSize: number) =>
      trainOnFeatures({
        model: newModel(),
        source,
        train,
        val,
        options: { ...options, epochs: 2, microBatchSize },
        progress: false,
        log: (l) => logs.push(l),
      });
    const whole = await run(0);
    // The tiny model's measured step fits the heap many times over: the batch stays whole.
    expect(
      logs.some((l) =>
        /^micro-batches of 8 patients \(a step needs ~\d+ MiB \+ \d+ MiB per patient at peak\)/.test(l),
      ),
    ).toBe(true);
    const split = await run(2);
    expect(split.history.length).toBe(2);
    split.history.forEach((r, i) => {
      const ref = whole.history[i]!;
      expect(Math.abs(r.trainLoss - ref.trainLoss)).toBeLessThan(1e-4 * ref.trainLoss);
      expect(Math.abs(r.val!.loss! - ref.val!.loss!)).toBeLessThan(1e-3 * ref.val!.loss!);
    });
    whole.model.dispose();
    split.model.dispose();
  });

  it('validates options', () => {
    expect(resolveTrainOptions({}).epochs).toBe(30);
    expect(resolveTrainOptions({}).microBatchSize).toBe(0);
    expect(() => resolveTrainOptions({ microBatchSize: -1 })).toThrow(/microBatchSize/);
    expect(() => resolveTrainOptions({ batchSize: 0 })).toThrow(/batchSize/);
    expect(() => resolveTrainOptions({ learningRate: -1 })).toThrow(/learningRate/);
    expect(() => resolveTrainOptions({ monitor: 'f1' as 'auc' })).toThrow(/monitor/);
    expect(() => resolveTrainOptions({ epochs: 2, warmupEpochs: 3 })).toThrow(/warmupEpochs/);
  });
});
