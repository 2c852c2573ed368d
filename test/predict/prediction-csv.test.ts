import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/index.js';
import { csvField, detailsPathFor, writePredictionCsv } from '../../src/predict/prediction-csv.js';

beforeAll(async () => {
  await selectBackend({ backend: 'cpu' });
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
