import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/run-cli.js';
import { captureIO } from '../helpers/cli-io.js';

const tmp = mkdtempSync(join(tmpdir(), 'mrn-synth-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('mrn synth / mrn baseline', () => {
  it('--help prints the options and exits 0', async () => {
    for (const cmd of ['synth', 'baseline']) {
      const c = captureIO();
      expect(await runCli([cmd, '--help'], c.io)).toBe(0);
      expect(c.out.join('\n')).toMatch(cmd === 'synth' ? /--fov small\|full/ : /--folds K/);
    }
    const all = captureIO();
    await runCli(['--help'], all.io);
    expect(all.out.join('\n')).toMatch(/synth/);
    expect(all.out.join('\n')).toMatch(/baseline/);
  });

  it('usage errors exit 2 and name the problem', async () => {
    const cases: [string[], RegExp][] = [
      [['synth', '--cases', '2', '--seed', '1'], /--out is required/],
      [['synth', '--out', tmp, '--seed', '1'], /--cases is required/],
      [['synth', '--out', tmp, '--cases', 'x', '--seed', '1'], /--cases must be an integer/],
      [['synth', '--out', tmp, '--cases', '2', '--seed', '1', '--fov', 'huge'], /--fov must be/],
      [
        ['synth', '--out', tmp, '--cases', '2', '--seed', '1', '--difficulty', 'hard'],
        /--difficulty must be a number/,
      ],
      [['synth', '--out', tmp, '--cases', '0', '--seed', '1'], /cases must be an integer >= 1/],
      [['baseline'], /--data is required/],
      [['baseline', '--data', tmp, '--folds', '1'], /--folds must be >= 2/],
    ];
    for (const [argv, re] of cases) {
      const c = captureIO();
      expect(await runCli(argv, c.io), argv.join(' ')).toBe(2);
      expect(c.err.join('\n')).toMatch(re);
    }
  });

  it('baseline on a missing folder exits 3', async () => {
    const c = captureIO();
    expect(await runCli(['baseline', '--data', join(tmp, 'nope')], c.io)).toBe(3);
  });

  it('synth writes a cohort that baseline reads (exit 0, JSON result)', async () => {
    const out = join(tmp, 'cohort');
    const s = captureIO();
    expect(
      await runCli(['synth', '--out', out, '--cases', '6', '--seed', '2', '--fov', 'small', '--quiet'], s.io),
    ).toBe(0);
    const csv = readFileSync(join(out, 'train_cases.csv'), 'utf8').trim().split('\n');
    expect(csv[0]).toBe('case,label');
    const pd = csv.slice(1).filter((l) => l.endsWith(',1')).length;
    expect(s.out.join('\n')).toContain(`wrote 6 cases (${pd} PD, ${6 - pd} HC)`);
    const b = captureIO();
    expect(await runCli(['baseline', '--data', out, '--folds', '3', '--json'], b.io)).toBe(0);
    const r = JSON.parse(b.out.join('\n'));
    expect(r.n).toBe(6);
    expect(r.foldAccuracy).toHaveLength(3);
    expect(r.weights).toHaveLength(20);
    expect(r.accuracy).toBeGreaterThanOrEqual(0);
    const t = captureIO();
    expect(await runCli(['baseline', '--data', out, '--folds', '2'], t.io)).toBe(0);
    expect(t.out.join('\n')).toMatch(/accuracy \d+\.\d%/);
  });
});
