import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend.js';
import { loadPdcadCases } from '../../src/pdcad/load-cases.js';
import { type PdcadCase } from '../../src/pdcad/pdcad-case.js';
import { MRN_ROIS } from '../../src/preprocess/roi-definitions.js';
import { makeSyntheticCohort } from '../../src/synth/cohort.js';
import { SliceEncoder } from '../../src/layers/slice-encoder.js';
import { resolveBackbone, type ResolvedBackbone } from '../../src/train/backbone.js';
import { type CachedFeatureSource, extractFeatures } from '../../src/train/feature-extraction.js';

// The ONNX backbone path of training (resolveBackbone('x.onnx') -> OnnxVitEncoder) must cache the
// same features as the tfjs DINOv2 path with the same weights: the fixture's ONNX export is the
// network stored in model.safetensors (see test/fixtures/reference/README.md), at its fixed 224 x 224 input.
const FIXTURE = fileURLToPath(new URL('../fixtures/reference/dinov2-tiny', import.meta.url));
const S = 224;
const TOLERANCE = 1e-4;

let root: string;
let cases: PdcadCase[];

async function extractWith(
  spec: string,
): Promise<{ resolved: ResolvedBackbone; source: CachedFeatureSource }> {
  const resolved = await resolveBackbone(spec);
  const encoder = new SliceEncoder({
    name: `onnx_test_encoder_${resolved.info.kind}`,
    backbone: resolved.backbone,
  });
  try {
    const { source, failed } = await extractFeatures(cases, encoder, {
      preprocessing: { size: S },
      variants: 1,
      cache: { precision: 'float32' },
      progress: false,
    });
    expect(failed).toEqual([]);
    return { resolved, source };
  } catch (error) {
    resolved.dispose();
    throw error;
  }
}

beforeAll(async () => {
  await selectBackend({ backend: 'wasm' });
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'mrn-onnx-backbone-'));
  const data = path.join(root, 'train');
  const summary = await makeSyntheticCohort({ outDir: data, cases: 2, seed: 11, fov: 'small' });
  const cohort = await loadPdcadCases(data, { labels: summary.labelsCsv });
  expect(cohort.excluded).toEqual([]);
  cases = cohort.cases;
  expect(cases).toHaveLength(2);
}, 60_000);

afterAll(() => {
  if (root) fs.rmSync(root, { recursive: true, force: true });
});

describe('training with an ONNX backbone', () => {
  it('caches the same CLS and patch features as the tfjs DINOv2 backbone (same weights, S = 224)', async () => {
    const before = tf.memory().numTensors;
    const tfjs = await extractWith(FIXTURE);
    const onnx = await extractWith(path.join(FIXTURE, 'model_224x224.onnx'));
    try {
      expect(tfjs.resolved.info.kind).toBe('dinov2');
      expect(onnx.resolved.info.kind).toBe('onnx');
      expect(onnx.resolved.info.imageSize).toBe(S);
      expect(onnx.resolved.info.embedDim).toBe(tfjs.resolved.info.embedDim);

      let maxAbs = 0;
      let validSlices = 0;
      for (const c of cases) {
        for (const roi of MRN_ROIS) {
          const a = tfjs.source.get(c.id, roi.id, 0);
          const b = onnx.source.get(c.id, roi.id, 0);
          expect([b.depth, b.tokens, b.embedDim]).toEqual([a.depth, a.tokens, a.embedDim]);
          expect(a.tokens).toBe((S / 14) ** 2);
          expect(Array.from(b.valid)).toEqual(Array.from(a.valid));
          validSlices += Array.from(a.valid).reduce((n, v) => n + v, 0);
          // Real features, not zeros: every valid slice's CLS has some magnitude.
          for (let s = 0; s < a.depth; s++) {
            if (!a.valid[s]) continue;
            const cls = a.cls.subarray(s * a.embedDim, (s + 1) * a.embedDim);
            expect(Math.max(...Array.from(cls, Math.abs))).toBeGreaterThan(0.1);
          }
          for (const [x, y] of [
            [a.cls, b.cls],
            [a.patch, b.patch],
          ] as const) {
            expect(y.length).toBe(x.length);
            for (let i = 0; i < x.length; i++) maxAbs = Math.max(maxAbs, Math.abs(x[i]! - y[i]!));
          }
        }
      }
      expect(validSlices).toBeGreaterThan(0);
      console.log(
        `ONNX vs tfjs cached features: max |diff| = ${maxAbs.toExponential(2)} over ${validSlices} valid slices`,
      );
      expect(maxAbs).toBeLessThan(TOLERANCE);
    } finally {
      tfjs.source.clear();
      onnx.source.clear();
      tfjs.resolved.dispose();
      onnx.resolved.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
  }, 120_000);
});
