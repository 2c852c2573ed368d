import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/run-cli.js';
import { makeSyntheticCohort } from '../../src/synth/cohort.js';
import { loadMrn, MRN_ERROR_CODES } from '../../src/index.js';
import { captureIO } from '../helpers/cli-io.js';

// End to end through the CLI on a tiny synthetic cohort: train (2-fold CV, tiny heads, S = 28, random
// tiny ViT) -> checkpoints -> load -> predict, with one case whose QSM file is broken.
let root: string;
let data: string;
let labels: string;
const run = path.join(os.tmpdir(), `mrn-e2e-${process.pid}`);

beforeAll(async () => {
  process.env.MRN_BACKEND = 'wasm';
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'mrn-e2e-data-'));
  data = path.join(root, 'train');
  const summary = await makeSyntheticCohort({ outDir: data, cases: 13, seed: 4, fov: 'small' });
  labels = summary.labelsCsv;
  // Break one case: cut its QSM file in half.
  const broken = path.join(data, 'RJPD_013', 'QSM.nii.gz');
  const bytes = fs.readFileSync(broken);
  fs.writeFileSync(broken, bytes.subarray(0, bytes.length >> 1));
});

afterAll(() => {
  fs.rmSync(root, { recursive: true, force: true });
  fs.rmSync(run, { recursive: true, force: true });
});

describe('mrn train -> predict (CLI)', () => {
  it('trains, checkpoints, reloads and writes the challenge CSVs; broken cases are reported', async () => {
    const t = captureIO();
    const code = await runCli(
      [
        'train',
        '--data',
        data,
        '--labels',
        labels,
        '--folds',
        '2',
        '--epochs',
        '2',
        '--size',
        '28',
        '--variants',
        '2',
        '--embed-dim',
        '16',
        '--batch-size',
        '4',
        '--out',
        run,
      ],
      t.io,
    );
    expect(t.err.join('\n')).toMatch(/Pretrained DINOv2 weights are strongly recommended/);
    expect(code).toBe(0);
    // The broken case is reported and skipped, never silently lost.
    expect(t.err.join('\n')).toMatch(/skipped RJPD_013: .*QSM/);
    expect(t.out.join('\n')).toMatch(/2-fold cross-validation on 12 cases/);
    expect(t.out.join('\n')).toMatch(/accuracy\s+\d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\]/);
    for (const f of [
      'model.json',
      'metrics.json',
      'cv-predictions.csv',
      'plots/training-curves.svg',
      'plots/roc.svg',
      'fold-1/best/checkpoint.json',
      'fold-2/last/optimizer.bin',
      'fold-1/epochs.jsonl',
      'backbone/backbone.bin',
    ]) {
      expect(fs.existsSync(path.join(run, f)), f).toBe(true);
    }
    const metrics = JSON.parse(fs.readFileSync(path.join(run, 'metrics.json'), 'utf8'));
    expect(metrics.folds).toHaveLength(2);
    // The feature store: one file per usable case (the broken one has none).
    expect(fs.readdirSync(path.join(run, 'features'))).toHaveLength(12);

    const p = captureIO();
    const pred = path.join(run, 'out', 'pred.csv');
    const pcode = await runCli(['predict', '--data', data, '--model', run, '--out', pred], p.io);
    expect(pcode).toBe(MRN_ERROR_CODES.E_PARTIAL_FAILURE);
    const csv = fs.readFileSync(pred, 'utf8').trim().split('\n');
    expect(csv[0]).toBe('case,pred');
    expect(csv).toHaveLength(13); // header + 12 good cases
    for (const line of csv.slice(1)) expect(line).toMatch(/^RJPD_0(0[1-9]|1[0-2]),[01]$/);
    const details = fs
      .readFileSync(path.join(run, 'out', 'pred.details.csv'), 'utf8')
      .trim()
      .split('\n');
    expect(details[0]).toBe('case,pred,prob_pd,status,error');
    const failed = details.find((l) => l.startsWith('RJPD_013'))!;
    expect(failed).toMatch(/^RJPD_013,,,failed,E_NIFTI_/);

    // The predictions are the loaded model's: the library predictor gives the same probabilities.
    const mrn = await loadMrn(run);
    try {
      expect(mrn.members).toBe(2);
      for (const id of ['RJPD_001', 'RJPD_002']) {
        const lib = await mrn.predictCase(path.join(data, id));
        const row = details.find((l) => l.startsWith(`${id},`))!.split(',');
        expect(Number(row[2])).toBeCloseTo(lib.probPd, 6);
        expect(Number(row[1])).toBe(lib.pred);
        expect(lib.memberProbs).toHaveLength(2);
      }
    } finally {
      mrn.dispose();
    }

    // A different backbone is refused.
    const other = captureIO();
    const fake = path.join(root, 'fake.onnx');
    fs.writeFileSync(fake, 'not a model');
    const ocode = await runCli(
      ['predict', '--data', data, '--model', run, '--out', pred, '--backbone', fake],
      other.io,
    );
    expect(ocode).toBe(MRN_ERROR_CODES.E_CHECKPOINT);
    expect(other.err.join('\n')).toMatch(/random default backbone/);

    // Explain writes an SVG with one image per ROI slice.
    const e = captureIO();
    const svg = path.join(run, 'RJPD_001.svg');
    expect(
      await runCli(['explain', '--case', path.join(data, 'RJPD_001'), '--model', run, '--out', svg], e.io),
    ).toBe(0);
    expect((fs.readFileSync(svg, 'utf8').match(/<image /g) ?? []).length).toBe(8 + 20 + 10 + 8);
  });

  it('gives usage errors and help', async () => {
    const t = captureIO();
    expect(await runCli(['train', '--data', data], t.io)).toBe(MRN_ERROR_CODES.E_USAGE);
    expect(t.err.join('\n')).toMatch(/--labels is required/);
    const h = captureIO();
    expect(await runCli(['predict', '--help'], h.io)).toBe(0);
    expect(h.out.join('\n')).toMatch(/pred.details.csv/);
    const m = captureIO();
    expect(await runCli(['predict', '--data', data, '--model', path.join(root, 'none')], m.io)).toBe(
      MRN_ERROR_CODES.E_FILE_NOT_FOUND,
    );
  });
});
