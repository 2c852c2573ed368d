import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/run-cli.js';
import { makeSyntheticCohort } from '../../src/synth/cohort.js';
import { MRN_ERROR_CODES } from '../../src/errors.js';
import { BREAKS } from '../helpers/broken-cases.js';
import { captureIO } from '../helpers/cli-io.js';

// `mrn predict` over cases broken in ten different ways (plus two good ones): the good ones are
// predicted, every broken one is listed in pred.details.csv with its error code, exit code 8.
// The same at 200 cases, with memory sampled: bench/predict-broken.ts.
let root: string;
let run: string;
let data: string;

beforeAll(async () => {
  // cpu: no wasm worker threads competing with the other e2e test's on 2 cores.
  process.env.MRN_BACKEND = 'cpu';
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'mrn-predict-broken-'));
  const train = path.join(root, 'train');
  const t = await makeSyntheticCohort({ outDir: train, cases: 6, seed: 4, fov: 'small' });
  run = path.join(root, 'run');
  const args = ['train', '--data', train, '--labels', t.labelsCsv, '--folds', '1', '--epochs', '1'];
  args.push('--size', '28', '--variants', '1', '--embed-dim', '16', '--batch-size', '4', '--out', run);
  const io = captureIO();
  const code = await runCli(args, io.io);
  if (code !== 0) throw new Error(io.err.join('\n'));
  data = path.join(root, 'data');
  await makeSyntheticCohort({ outDir: data, cases: BREAKS.length + 2, seed: 9, fov: 'small' });
  for (let i = 0; i < BREAKS.length; i++) await BREAKS[i]!.apply(path.join(data, caseId(i)));
}, 300_000);
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const caseId = (i: number) => `RJPD_${String(i + 1).padStart(3, '0')}`;

describe('mrn predict with cases broken in ten ways', () => {
  it('predicts the good cases, lists each broken one with its error, exits 8', async () => {
    const io = captureIO();
    const pred = path.join(root, 'pred.csv');
    const code = await runCli(['predict', '--data', data, '--model', run, '--out', pred], io.io);
    expect(code).toBe(MRN_ERROR_CODES.E_PARTIAL_FAILURE);
    const rows = fs.readFileSync(pred, 'utf8').trim().split('\n');
    expect(rows).toEqual([
      'case,pred',
      expect.stringMatching(/^RJPD_011,[01]$/),
      expect.stringMatching(/^RJPD_012,[01]$/),
    ]);
    const details = fs.readFileSync(path.join(root, 'pred.details.csv'), 'utf8').trim().split('\n');
    BREAKS.forEach((b, i) => {
      const row = details.find((l) => l.startsWith(`${caseId(i)},`));
      expect(row, b.how).toMatch(new RegExp(`^${caseId(i)},,,failed,"?${b.code}: `));
    });
    expect(new Set(BREAKS.map((b) => b.how)).size).toBe(10);
  });
});
