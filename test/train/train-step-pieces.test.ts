import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/index.js';
import { csvField, detailsPathFor, writePredictionCsv } from '../../src/predict/prediction-csv.js';
import { clipByGlobalNorm } from '../../src/train/train-step.js';

beforeAll(async () => {
  await selectBackend({ backend: 'cpu' });
});

describe('clipByGlobalNorm', () => {
  it('scales to the max norm only when above it, as torch clip_grad_norm_', () => {
    const grads = { a: tf.tensor1d([3, 0]), b: tf.tensor2d([[0, 4]]) }; // global norm 5
    const before = tf.memory().numTensors;
    const clipped = clipByGlobalNorm(grads, 1);
    expect(clipped.norm).toBeCloseTo(5, 6);
    const scale = 1 / (5 + 1e-6);
    expect(Array.from(clipped.grads.a!.dataSync())).toEqual([Math.fround(3 * scale), 0]);
    expect(clipped.grads.b!.dataSync()[1]).toBeCloseTo(4 * scale, 6);
    const unclipped = clipByGlobalNorm(grads, 10);
    expect(Array.from(unclipped.grads.b!.dataSync())).toEqual([0, 4]);
    tf.dispose([...Object.values(clipped.grads), ...Object.values(unclipped.grads)]);
    expect(tf.memory().numTensors).toBe(before);
    expect(() => clipByGlobalNorm(grads, 0)).toThrow(/maxNorm/);
    expect(clipByGlobalNorm(grads, Infinity).norm).toBeCloseTo(5, 6);
    tf.dispose(Object.values(grads));
  });
});

describe('prediction CSVs', () => {
  it('write pred.csv with ok cases only and details with every case and its error', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mrn-pred-'));
    const pred = path.join(dir, 'out', 'pred.csv');
    const details = writePredictionCsv(pred, [
      { caseId: 'RJPD_201', status: 'ok', pred: 1, probPd: 0.91234567 },
      { caseId: 'RJPD_202', status: 'failed', error: 'E_NIFTI_TRUNCATED: file ends, "early"\nat byte 12' },
      { caseId: 'RJPD_203', status: 'ok', pred: 0, probPd: 0.1 },
    ]);
    expect(details).toBe(path.join(dir, 'out', 'pred.details.csv'));
    expect(fs.readFileSync(pred, 'utf8')).toBe('case,pred\nRJPD_201,1\nRJPD_203,0\n');
    expect(fs.readFileSync(details, 'utf8')).toBe(
      'case,pred,prob_pd,status,error\n' +
        'RJPD_201,1,0.912346,ok,\n' +
        'RJPD_202,,,failed,"E_NIFTI_TRUNCATED: file ends, ""early"" at byte 12"\n' +
        'RJPD_203,0,0.100000,ok,\n',
    );
    expect(detailsPathFor('a/b.csv')).toBe('a/b.details.csv');
    expect(detailsPathFor('preds')).toBe('preds.details.csv');
    expect(csvField('plain')).toBe('plain');
    expect(() => writePredictionCsv(pred, [{ caseId: 'x', status: 'ok' }])).toThrow(/no prediction/);
    fs.rmSync(dir, { recursive: true });
  });
});
