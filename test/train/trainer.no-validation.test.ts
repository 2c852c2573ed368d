/**
 * Without a validation split the trainer tracks the training loss in its early-stopping state (stored
 * in checkpoints, continued on resume). Its best epoch must be the epoch of the LOWEST training loss,
 * whatever the monitored validation metric would have been (`loss` minimised, `auc`/`accuracy` maximised).
 */

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRng, selectBackend } from '../../src/index.js';
import { MultiRoiNet } from '../../src/layers/multi-roi-net.js';
import { readCheckpointMeta } from '../../src/train/checkpoint.js';
import type { FeatureSource, LabelledCase, RoiFeatures } from '../../src/train/feature-batch.js';
import { trainOnFeatures } from '../../src/train/trainer.js';

const S = 28;
const N = 4;
const E = 8;
const D = 2;
const ROIS = ['roi-a', 'roi-b'];

/** Cached features with a class signal in the first CLS channels, so the training loss falls. */
function makeSource(cases: LabelledCase[], seed: number): FeatureSource {
  const rng = createRng(seed);
  const store = new Map<string, RoiFeatures>();
  for (const c of cases) {
    for (const roi of ROIS)
      store.set(`${c.caseId}/${roi}`, {
        depth: D,
        tokens: N,
        embedDim: E,
        patch: new Float32Array(D * N * E).map(() => rng.normal(0, 1)),
        cls: new Float32Array(D * E).map((_, i) => rng.normal(0, 1) + (i % E < 2 ? (c.label - 0.5) * 3 : 0)),
        valid: [1, 1],
        size: S,
        masks: new Int32Array(D * S * S).map((_, i) => (Math.abs((i % S) - 14) < 5 ? 1 : 0)),
      });
  }
  return { roiIds: ROIS, variants: 1, get: (caseId, roiId) => store.get(`${caseId}/${roiId}`)! };
}

const modelConfig = {
  rois: ROIS.map((id) => ({ id, numClasses: 2, slices: D })),
  preset: 'mrn-tiny' as const,
  embedDim: 8,
  segHiddenDim: 4,
  sliceSize: S,
  backboneDim: E,
  patchSize: 14,
  seed: 5,
};
const context = {
  modelConfig,
  preprocessing: { size: S },
  backbone: { kind: 'random' as const, preset: 'test', sha256: 'feed' },
};
const cases: LabelledCase[] = Array.from({ length: 8 }, (_, i) => ({ caseId: `C${i}`, label: i % 2 }));
const source = makeSource(cases, 3);
let dir: string;

beforeAll(async () => {
  await selectBackend({ backend: 'wasm' });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mrn-early-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('trainOnFeatures without validation', () => {
  for (const monitor of ['loss', 'auc'] as const) {
    it(`records the epoch of the lowest training loss as best (monitor '${monitor}')`, async () => {
      const out = path.join(dir, monitor);
      const result = await trainOnFeatures({
        model: new MultiRoiNet(modelConfig),
        source,
        train: cases,
        options: { epochs: 4, batchSize: 4, learningRate: 1e-2, warmupEpochs: 0, seed: 1, monitor },
        outDir: out,
        checkpoint: context,
        loadModel: (d) => MultiRoiNet.load(d),
        progress: false,
      });
      result.model.dispose();
      const losses = result.history.map((r) => r.trainLoss);
      const lowest = Math.min(...losses);
      const highest = Math.max(...losses);
      expect(highest).toBeGreaterThan(lowest); // the test can tell best from worst
      const state = readCheckpointMeta(path.join(out, 'last')).earlyStopping!;
      expect(state.bestEpoch).toBe(losses.indexOf(lowest) + 1);
      expect(Math.abs(state.best!)).toBeCloseTo(lowest, 6);
    });
  }
});
