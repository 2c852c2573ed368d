import { describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/run-cli.js';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) }, out, err };
}

describe('mrn CLI', () => {
  it('lists commands on --help and exits 0', async () => {
    const c = capture();
    expect(await runCli(['--help'], c.io)).toBe(0);
    expect(c.out.join('\n')).toMatch(/backend/);
  });

  it('exits 2 on an unknown command or flag, naming it', async () => {
    const c = capture();
    expect(await runCli(['frobnicate'], c.io)).toBe(2);
    expect(c.err.join('\n')).toMatch(/unknown command 'frobnicate'/);
    const d = capture();
    expect(await runCli(['backend', '--nope'], d.io)).toBe(2);
    expect(d.err.join('\n')).toMatch(/--nope/);
  });

  it('mrn backend --json reports the chosen backend', async () => {
    const c = capture();
    expect(await runCli(['backend', '--json'], c.io)).toBe(0);
    expect(JSON.parse(c.out.join('\n')).backend).toBe('wasm');
  });
});
