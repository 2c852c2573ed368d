/**
 * The lab package against mrn as installed from its tarball: the thalamus ROI through mrn's ROI
 * definitions, the lab's backbone and layer through tfjs serialisation and `customBackbone`, a tiny
 * cross-validated training run, and a prediction in a fresh process that matches this one's.
 */

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import {
  customBackbone,
  fileSystemIO,
  loadMrn,
  loadPdcadCases,
  MrnError,
  preprocessCase,
  selectBackend,
  validateRoi,
} from 'mrn';
import { makeSyntheticCohort } from 'mrn/synth';
import {
  buildLabBackbone,
  LAB_BACKBONE_NAME,
  LAB_PATCH_SIZE,
  LAB_ROIS,
  PatchEmbedding,
  predictWithLabModel,
  THALAMUS_ROI,
  trainLabModel,
} from '../src/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
let root: string;
let data: string;
let labelsCsv: string;
const HELD_OUT = 'RJPD_009';

before(async () => {
  await selectBackend({ backend: 'wasm' });
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'mrn-lab-'));
  data = path.join(root, 'data');
  const summary = await makeSyntheticCohort({ outDir: data, cases: 9, seed: 5, fov: 'small' });
  labelsCsv = summary.labelsCsv;
});

after(() => {
  if (root) fs.rmSync(root, { recursive: true, force: true });
});

test('the thalamus ROI is a valid mrn ROI and crops labels 7-8 from the QSM mask', async () => {
  assert.equal(validateRoi(THALAMUS_ROI), THALAMUS_ROI);
  assert.throws(
    () => validateRoi({ ...THALAMUS_ROI, classes: [{ name: 'background', labels: [] }] }),
    (e: unknown) => e instanceof MrnError && e.code === 'E_CONFIG',
  );
  const { cases, excluded } = await loadPdcadCases(data, { labels: labelsCsv, rois: LAB_ROIS });
  assert.deepEqual(excluded, []);
  const pre = await preprocessCase(cases[0]!, { size: 28, rois: [THALAMUS_ROI] });
  const tha = pre.rois.find((r) => r.roiId === 'qsm-tha')!;
  assert.equal(tha.depth, THALAMUS_ROI.slices);
  assert.equal(tha.size, 28);
  const classes = new Set(tha.masks);
  assert.ok(classes.has(1) && classes.has(2), `both thalami in the crop, got classes ${[...classes]}`);
  assert.ok(Math.max(...classes) <= 2, 'no other nucleus becomes a class');
});

test('the lab layer round-trips through tfjs serialisation with identical outputs', async () => {
  const dir = fs.mkdtempSync(path.join(root, 'layer-'));
  const model = buildLabBackbone(8, 3);
  const x = tf.randomUniform([2, 14, 14, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
  await model.save(fileSystemIO(dir));
  const saved = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  assert.match(JSON.stringify(saved.modelTopology), /"class_name":"LabPatchEmbedding"/);
  const again = await tf.loadLayersModel(fileSystemIO(dir));
  assert.ok(again.layers.some((l) => l instanceof PatchEmbedding));
  const [a, b] = [model.predict(x) as tf.Tensor[], again.predict(x) as tf.Tensor[]];
  assert.deepEqual(a[1]!.shape, [2, 4, 8]);
  assert.deepEqual(Array.from(a[1]!.dataSync()), Array.from(b[1]!.dataSync()));
  // Same weights, same fingerprint (though tfjs renamed nothing here, names are not part of it).
  const fa = customBackbone(model, { name: LAB_BACKBONE_NAME, patchSize: LAB_PATCH_SIZE });
  const fb = customBackbone(again, { name: LAB_BACKBONE_NAME, patchSize: LAB_PATCH_SIZE });
  assert.equal(fa.info.sha256, fb.info.sha256);
  assert.equal(fa.info.kind, 'custom');
  assert.equal(fa.info.embedDim, 8);
  tf.dispose([x, ...a, ...b]);
  model.dispose();
  again.dispose();
});

test('trains with the lab ROI and backbone, saves, and predicts the same in a fresh process', async () => {
  const out = path.join(root, 'lab');
  const t0 = Date.now();
  const trained = await trainLabModel({ dataDir: data, labelsCsv, outDir: out, holdOut: [HELD_OUT] });
  const seconds = (Date.now() - t0) / 1000;
  console.log(`trained 2 folds on ${trained.trainedOn.length} cases in ${seconds.toFixed(1)} s`);
  assert.ok(!trained.trainedOn.includes(HELD_OUT));
  assert.equal(trained.report.predictions.length, trained.trainedOn.length);
  const manifest = JSON.parse(fs.readFileSync(path.join(trained.runDir, 'model.json'), 'utf8'));
  assert.equal(manifest.backbone.kind, 'custom');
  assert.equal(manifest.backbone.preset, LAB_BACKBONE_NAME);

  // mrn refuses to guess the backbone of a custom run, and refuses a different one.
  await assert.rejects(
    loadMrn(trained.runDir),
    (e: unknown) => e instanceof MrnError && e.code === 'E_CHECKPOINT',
  );
  const other = customBackbone(buildLabBackbone(24, 99), {
    name: LAB_BACKBONE_NAME,
    patchSize: LAB_PATCH_SIZE,
  });
  await assert.rejects(
    loadMrn(trained.runDir, { backbone: other }),
    (e: unknown) => e instanceof MrnError && e.code === 'E_CHECKPOINT' && /does not match/.test(e.message),
  );
  other.dispose();

  const caseDir = path.join(data, HELD_OUT);
  const tensorsBefore = tf.memory().numTensors;
  const here1 = await predictWithLabModel(trained.runDir, trained.backboneDir, caseDir);
  assert.equal(tf.memory().numTensors, tensorsBefore, 'no tensor leaks across load + predict + dispose');
  assert.equal(here1.caseId, HELD_OUT);
  assert.ok(here1.probPd >= 0 && here1.probPd <= 1);
  assert.equal(here1.sliceAttention['qsm-tha']!.length, THALAMUS_ROI.slices);
  assert.deepEqual(
    Object.keys(here1.sliceAttention),
    LAB_ROIS.map((r) => r.id),
  );

  const child = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      path.join(here, '..', 'src', 'predict-case.ts'),
      trained.runDir,
      trained.backboneDir,
      caseDir,
    ],
    { encoding: 'utf8', cwd: path.join(here, '..') },
  );
  assert.equal(child.status, 0, child.stderr);
  const fresh = JSON.parse(child.stdout.trim().split('\n').pop()!);
  assert.equal(fresh.leaked, 0);
  assert.equal(fresh.caseId, HELD_OUT);
  assert.ok(Math.abs(fresh.probPd - here1.probPd) < 1e-6, `fresh ${fresh.probPd} vs here ${here1.probPd}`);
  for (const id of Object.keys(here1.sliceAttention)) {
    const a = here1.sliceAttention[id]!;
    const b = fresh.sliceAttention[id] as number[];
    assert.ok(
      a.every((v, i) => Math.abs(v - b[i]!) < 1e-6),
      `slice attention of ${id}`,
    );
  }
});
