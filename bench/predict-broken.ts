/**
 * `mrn predict` at scale with broken cases: 200 synthetic cases (small FOV), 10 of them broken in 10
 * different ways. Checks that 190 predictions are written, that pred.details.csv lists the 10 with
 * their errors, that the exit code is 8, and samples the child's resident memory (VmRSS, VmHWM from
 * /proc) through the run to show it stays flat. Writes bench/predict-broken.results.md.
 *
 *   npx tsx bench/predict-broken.ts [cases=200] [seed=7]
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeSyntheticCohort } from '../src/synth/cohort.js';
import { BREAKS } from '../test/helpers/broken-cases.js';

const CASES = Number(process.argv[2] ?? 200);
const SEED = Number(process.argv[3] ?? 7);
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'mrn-predict-broken-'));
const data = path.join(root, 'data');
const trainData = path.join(root, 'train');
const run = path.join(root, 'run');
const cli = (args: string[]) => ['--import', 'tsx', path.resolve('src/cli/main.ts'), ...args];

function node(
  args: string[],
  sample?: (pid: number) => void,
): Promise<{ code: number | null; stderr: string; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      env: { ...process.env, MRN_BACKEND: 'wasm' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = sample ? setInterval(() => sample(child.pid!), 100) : undefined;
    child.on('error', reject);
    child.on('close', (code) => {
      if (timer) clearInterval(timer);
      resolve({ code, stderr, ms: Date.now() - t0 });
    });
  });
}

function status(pid: number): { rss: number; hwm: number } | undefined {
  try {
    const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(text)?.[1] ?? NaN);
    return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
  } catch {
    return undefined;
  }
}

try {
  let t = Date.now();
  await makeSyntheticCohort({ outDir: data, cases: CASES, seed: SEED, fov: 'small' });
  const synthS = (Date.now() - t) / 1000;
  const broken = BREAKS.map((b, i) => ({
    ...b,
    id: `RJPD_${String(Math.round(((i + 0.5) * CASES) / BREAKS.length)).padStart(3, '0')}`,
  }));
  for (const b of broken) await b.apply(path.join(data, b.id));

  t = Date.now();
  await makeSyntheticCohort({ outDir: trainData, cases: 8, seed: 4, fov: 'small' });
  const trained = await node(
    cli([
      'train',
      '--data',
      trainData,
      '--labels',
      path.join(trainData, 'train_cases.csv'),
      '--folds',
      '2',
      '--epochs',
      '2',
      '--size',
      '28',
      '--variants',
      '1',
      '--embed-dim',
      '16',
      '--batch-size',
      '4',
      '--out',
      run,
    ]),
  );
  if (trained.code !== 0) throw new Error(`training failed:\n${trained.stderr}`);
  const trainS = (Date.now() - t) / 1000;

  const samples: { ms: number; rss: number; hwm: number }[] = [];
  const t0 = Date.now();
  const pred = path.join(root, 'pred.csv');
  const r = await node(cli(['predict', '--data', data, '--model', run, '--out', pred]), (pid) => {
    const s = status(pid);
    if (s && Number.isFinite(s.rss)) samples.push({ ms: Date.now() - t0, ...s });
  });
  const rows = fs.readFileSync(pred, 'utf8').trim().split('\n').slice(1);
  const details = fs.readFileSync(path.join(root, 'pred.details.csv'), 'utf8').trim().split('\n').slice(1);
  const failed = details.filter((l) => l.includes(',failed,'));
  const checks = [
    [`exit code 8`, r.code === 8],
    [`${CASES - BREAKS.length} predictions in pred.csv`, rows.length === CASES - BREAKS.length],
    [`${BREAKS.length} failed rows in pred.details.csv`, failed.length === BREAKS.length],
    ...broken.map(
      (b) =>
        [
          `${b.id} (${b.how}) -> ${b.code}`,
          failed.some((l) => l.startsWith(`${b.id},`) && l.includes(b.code)),
        ] as const,
    ),
  ] as const;
  const at = (f: number) => samples[Math.min(samples.length - 1, Math.floor(f * (samples.length - 1)))]!;
  const lines = [
    `# mrn predict over ${CASES} cases with ${BREAKS.length} broken ones`,
    '',
    `Run ${new Date().toISOString()} on a loaded 2-core machine (shared by several jobs), wasm backend, tiny model`,
    `(2-fold ensemble, embed-dim 16, S = 28, random tiny ViT), synthetic cases with the small FOV.`,
    `Synthesis ${synthS.toFixed(1)} s, training ${trainS.toFixed(1)} s, prediction ${(r.ms / 1000).toFixed(1)} s`,
    `(${(r.ms / CASES) | 0} ms/case including the cohort validation pass).`,
    '',
    '| check | result |',
    '|---|---|',
    ...checks.map(([name, ok]) => `| ${name} | ${ok ? 'ok' : 'FAILED'} |`),
    '',
    'Resident memory of the predict process (MB), sampled every 100 ms:',
    '',
    '| time into the run | VmRSS | VmHWM (peak so far) |',
    '|---|---|---|',
    ...[0.1, 0.25, 0.5, 0.75, 1].map((f) => {
      const s = at(f);
      return `| ${(f * 100).toFixed(0)}% (${(s.ms / 1000).toFixed(1)} s) | ${s.rss.toFixed(0)} | ${s.hwm.toFixed(0)} |`;
    }),
    '',
    `Peak RSS ${Math.max(...samples.map((s) => s.hwm)).toFixed(0)} MB; RSS growth from 25% to 100% of the run: ${(at(1).rss - at(0.25).rss).toFixed(0)} MB.`,
    '',
    'pred.details.csv rows of the failed cases:',
    '',
    '```',
    ...failed.map((l) => (l.length > 220 ? `${l.slice(0, 220)}…` : l)),
    '```',
  ];
  const report = lines.join('\n');
  console.log(report);
  fs.writeFileSync(path.resolve('bench/predict-broken.results.md'), `${report}\n`);
  if (checks.some(([, ok]) => !ok)) process.exitCode = 1;
} finally {
  fs.rmSync(root, { recursive: true, force: true });
}
