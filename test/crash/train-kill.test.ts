import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeSyntheticCohort } from '../../src/synth/cohort.js';
import { createRng } from '../../src/rng.js';

// `mrn train` killed with SIGKILL at seeded random moments (during feature extraction, mid epoch, in
// the middle of a checkpoint or run-file write) and rerun with the same command each time ends with
// exactly the weights, optimiser state, epoch logs and metrics of an uninterrupted run.
// Tiny config: 8 synthetic cases (small FOV), 2 folds, 3 epochs, S = 28, the random tiny ViT.
// The reference and the write-kills run the folds one at a time (`--parallel-folds 1`: the write hook
// of train-entry.ts lives in the main thread, and fold workers write their own checkpoints); two
// kills mid epoch and the final rerun train both folds side by side, in worker threads.
// It starts 7 processes (~1-2 min on 2 idle cores), so it runs in its own CI step (`npm run
// test:crash`), not in `npm test`. MRN_CRASH_SEED picks other kill moments.

const ROOT = fs.mkdtempSync(path.join(os.tmpdir(), 'mrn-crash-'));
const DATA = path.join(ROOT, 'data');
const REF = path.join(ROOT, 'ref');
const RUN = path.join(ROOT, 'run');
const ENTRY = path.resolve('test/crash/train-entry.ts');
const SEED = Number(process.env.MRN_CRASH_SEED ?? 16);

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  ms: number;
}

/**
 * Runs `mrn train` on the tiny cohort into `out`. `killWhen` may SIGKILL it: after `afterMs` once
 * stderr has matched `pattern`; `env` adds variables (the write-kill hook).
 */
function train(
  out: string,
  env: Record<string, string> = {},
  killWhen?: { pattern: RegExp; afterMs: number },
  parallelFolds = 1,
): Promise<Outcome> {
  const args = [
    '--import',
    'tsx',
    ENTRY,
    'train',
    '--data',
    DATA,
    '--labels',
    path.join(DATA, 'train_cases.csv'),
  ];
  args.push(
    '--folds',
    '2',
    '--epochs',
    '3',
    '--size',
    '28',
    '--variants',
    '2',
    '--embed-dim',
    '16',
    '--batch-size',
    '4',
    '--out',
    out,
    '--parallel-folds',
    String(parallelFolds),
    // Kills are placed by time and by write count, measured on the reference run: a rerun that read
    // its features from the store would skip those writes and that time, and end before its kill.
    '--no-feature-store',
  );
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      env: { ...process.env, MRN_BACKEND: 'wasm', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    let armed = false;
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (killWhen && !armed && killWhen.pattern.test(stderr)) {
        armed = true;
        setTimeout(() => child.kill('SIGKILL'), killWhen.afterMs);
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stderr, ms: Date.now() - t0 }));
  });
}

/** What must be identical: every checkpoint's bytes, epoch logs (without timings), metrics, predictions. */
function fingerprint(out: string): Record<string, string> {
  const result: Record<string, string> = {};
  const norm = (text: string) => text.split(out).join('<OUT>');
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, e.name);
      const rel = path.relative(out, full);
      if (e.isDirectory()) walk(full);
      else if (rel.endsWith('.bin') || rel.endsWith('cv-predictions.csv'))
        result[rel] = fs.readFileSync(full).toString('base64');
      else if (rel.endsWith('epochs.jsonl')) {
        result[rel] = fs
          .readFileSync(full, 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.stringify({ ...JSON.parse(l), seconds: 0 }))
          .join('\n');
      } else if (rel === 'metrics.json') {
        const m = JSON.parse(norm(fs.readFileSync(full, 'utf8')));
        delete m.seconds;
        result[rel] = JSON.stringify(m);
      } else if (rel === 'model.json') result[rel] = norm(fs.readFileSync(full, 'utf8'));
    }
  };
  walk(out);
  return result;
}

let reference: Outcome;
let writes = 0;
beforeAll(async () => {
  await makeSyntheticCohort({ outDir: DATA, cases: 8, seed: 4, fov: 'small' });
  const counted = path.join(ROOT, 'writes');
  reference = await train(REF, { MRN_TEST_COUNT_WRITES: counted });
  writes = Number(fs.readFileSync(counted, 'utf8'));
}, 300_000);
afterAll(() => fs.rmSync(ROOT, { recursive: true, force: true }));

describe('mrn train killed with SIGKILL and rerun', () => {
  it('ends exactly as an uninterrupted run', async () => {
    expect(reference.code, reference.stderr).toBe(0);
    expect(writes).toBeGreaterThan(20);
    const rng = createRng(SEED);
    const span = (lo: number, hi: number) => Math.round(rng.uniform(lo, hi));
    const T = reference.ms;
    const kills: {
      what: string;
      env?: Record<string, string>;
      when?: { pattern: RegExp; afterMs: number };
      parallel?: boolean;
    }[] = [
      {
        what: 'during feature extraction',
        when: { pattern: /extracting features/, afterMs: span(200, 2500) },
      },
      { what: 'mid epoch (fold 1)', when: { pattern: /fold 1\/2: /, afterMs: span(100, 1500) } },
      { what: 'mid epoch (fold 2)', when: { pattern: /fold 2\/2: \d/, afterMs: span(100, 1500) } },
      // Writes are spread: one among the first third (backbone, fold 1 checkpoints), one later.
      ...[
        [1, Math.floor(writes / 3)],
        [Math.floor(writes / 3) + 1, writes],
      ].map(([lo, hi]) => {
        const n = span(lo!, hi!);
        return { what: `in the middle of write ${n}/${writes}`, env: { MRN_TEST_KILL_AT_WRITE: String(n) } };
      }),
      ...[0, 1].map(() => ({
        what: 'mid epoch, both folds in workers',
        when: { pattern: /training 2 folds, 2 at a time/, afterMs: span(500, 4000) },
        parallel: true,
      })),
    ];
    const log: string[] = [];
    for (const k of kills) {
      const r = await train(RUN, k.env, k.when, k.parallel ? 2 : 1);
      log.push(`${k.what}: ${r.signal ?? `exit ${r.code}`} after ${r.ms} ms`);
      // A kill that came too late lets the run finish: that is fine, the rerun must still match.
      if (r.signal === null) expect(r.code, r.stderr).toBe(0);
    }
    const final = await train(RUN, {}, undefined, 2);
    expect(final.code, `${log.join('\n')}\n${final.stderr}`).toBe(0);
    console.log(`reference ${T} ms, ${writes} writes; kills:\n${log.join('\n')}\nfinal rerun ${final.ms} ms`);
    expect(log.filter((l) => l.includes('SIGKILL')).length).toBeGreaterThanOrEqual(6);
    expect(final.stderr).toMatch(/training 2 folds, 2 at a time/);
    const expected = fingerprint(REF);
    expect(Object.keys(expected).length).toBeGreaterThanOrEqual(12); // checkpoints, logs, metrics, predictions
    expect(fingerprint(RUN)).toEqual(expected);
    expect(fs.existsSync(path.join(RUN, '.mrn-lock'))).toBe(false);
  }, 900_000);
});
