import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend.js';
import { MultiRoiNet, type MultiRoiNetConfig } from '../../src/layers/multi-roi-net.js';
import { createRng } from '../../src/rng.js';
import {
  crossValidateOnFeatures,
  type CrossValidationConfig,
  type CrossValidationIO,
} from '../../src/train/cross-validate.js';
import type { FeatureSource, LabelledCase, RoiFeatures } from '../../src/train/feature-batch.js';

// 18 tiny cached cases (2 ROIs, 2 x 2 tokens of width 8, S = 28) whose CLS tokens carry the label.
const ROIS = [
  { id: 'roi-a', numClasses: 2, slices: 3 },
  { id: 'roi-b', numClasses: 3, slices: 2 },
];
const CASES: LabelledCase[] = Array.from({ length: 18 }, (_, i) => ({ caseId: `c${i}`, label: i % 2 }));
const MODEL: MultiRoiNetConfig = {
  rois: ROIS,
  preset: 'mrn-tiny',
  sliceSize: 28,
  backboneDim: 8,
  patchSize: 14,
  seed: 3,
};

function makeSource(failOn?: string): FeatureSource {
  const store = new Map<string, RoiFeatures>();
  const rng = createRng(9);
  for (const c of CASES) {
    for (const roi of ROIS) {
      for (let v = 0; v < 2; v++) {
        const d = roi.slices;
        store.set(`${c.caseId}/${roi.id}/${v}`, {
          depth: d,
          tokens: 4,
          embedDim: 8,
          patch: Float32Array.from({ length: d * 4 * 8 }, () => rng.normal(0, 1)),
          cls: Float32Array.from({ length: d * 8 }, () => rng.normal(c.label - 0.5, 1)),
          valid: new Uint8Array(d).fill(1),
          size: 28,
          masks: Int32Array.from({ length: d * 28 * 28 }, () => rng.int(0, roi.numClasses - 1)),
        });
      }
    }
  }
  return {
    roiIds: ROIS.map((r) => r.id),
    variants: 2,
    get(caseId, roiId, variant) {
      if (caseId === failOn) throw new Error(`simulated unreadable features of ${caseId}`);
      return store.get(`${caseId}/${roiId}/${variant}`)!;
    },
  };
}

const CONFIG: CrossValidationConfig = {
  model: MODEL,
  train: { epochs: 3, batchSize: 4, patience: 5, seed: 1 },
  bootstrap: { iterations: 50 },
};
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'mrn-fold-workers-'));
const io = (name: string, parallelFolds: number, lines: string[] = []): CrossValidationIO => ({
  outDir: path.join(root, name),
  checkpoint: {
    modelConfig: MODEL,
    preprocessing: { test: true },
    backbone: { kind: 'custom', sha256: 'test', embedDim: 8 },
  },
  progress: false,
  log: (l) => lines.push(l),
  parallelFolds,
});

beforeAll(async () => {
  await selectBackend({ backend: 'cpu' });
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe('folds trained in worker threads', () => {
  it('give the same folds, predictions and models as one at a time, and leak nothing', async () => {
    const before = tf.memory().numTensors;
    const one = await crossValidateOnFeatures(makeSource(), CASES, 3, CONFIG, io('one', 1));
    const lines: string[] = [];
    const two = await crossValidateOnFeatures(makeSource(), CASES, 3, CONFIG, io('two', 2, lines));
    expect(lines).toContain('training 3 folds, 2 at a time (one worker thread each)');
    // Worker lines arrive, each naming its fold.
    expect(lines.some((l) => /^fold \d: /.test(l))).toBe(true);
    expect(two.predictions).toEqual(one.predictions);
    expect(two.folds.map((f) => [f.fold, f.bestEpoch, f.metrics.auc.value])).toEqual(
      one.folds.map((f) => [f.fold, f.bestEpoch, f.metrics.auc.value]),
    );
    expect(two.checkpointDirs.map((d) => path.relative(path.join(root, 'two'), d))).toEqual(
      one.checkpointDirs.map((d) => path.relative(path.join(root, 'one'), d)),
    );
    // The models handed back (loaded from the workers' best checkpoints) are the sequential ones.
    two.models.forEach((m, i) => {
      const a = m.trainableWeights.map((w) => Array.from(w.read().dataSync()));
      const b = one.models[i]!.trainableWeights.map((w) => Array.from(w.read().dataSync()));
      expect(a.length).toBeGreaterThan(10);
      expect(a).toEqual(b);
    });
    [...one.models, ...two.models].forEach((m: MultiRoiNet) => m.dispose());
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rethrows a fold failure with its message and stops every worker', async () => {
    const err = await crossValidateOnFeatures(makeSource('c4'), CASES, 3, CONFIG, io('fail', 2)).catch(
      (e) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/simulated unreadable features of c4/);
  });

  it('falls back to one fold at a time when the workers cannot start (a backend they cannot load)', async () => {
    // A backend registered only in this thread: the workers' selectBackend cannot find it.
    const name = 'mrn-test-cpu';
    const cpu = tf.findBackend('cpu') as unknown as { constructor: new () => tf.KernelBackend };
    tf.registerBackend(name, () => new cpu.constructor());
    for (const kernel of tf.getKernelsForBackend('cpu')) tf.registerKernel({ ...kernel, backendName: name });
    await tf.setBackend(name);
    try {
      const lines: string[] = [];
      const r = await crossValidateOnFeatures(
        makeSource(),
        CASES.slice(0, 12),
        2,
        CONFIG,
        io('nostart', 2, lines),
      );
      expect(lines.join('\n')).toMatch(/fold workers could not start \(.*\): folds run one at a time/);
      expect(r.folds).toHaveLength(2);
      r.models.forEach((m) => m.dispose());
    } finally {
      await tf.setBackend('cpu');
    }
  });

  it('runs one at a time, saying why, without a run folder', async () => {
    const lines: string[] = [];
    const r = await crossValidateOnFeatures(makeSource(), CASES.slice(0, 12), 2, CONFIG, {
      ...io('none', 2, lines),
      outDir: undefined,
    });
    expect(lines.join('\n')).toMatch(/folds run one at a time: .*no run folder/);
    r.models.forEach((m) => m.dispose());
  });
});
