import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../../src/cli/commands.js';
import { runCli } from '../../src/cli/run-cli.js';
import { captureIO } from '../helpers/cli-io.js';

describe('mrn CLI', () => {
  it('lists commands on --help and exits 0', async () => {
    const c = captureIO();
    expect(await runCli(['--help'], c.io)).toBe(0);
    expect(c.out.join('\n')).toMatch(/backend/);
  });

  it('answers --help and -h for every command with its own help text, running nothing', async () => {
    for (const command of COMMANDS) {
      for (const flag of ['--help', '-h']) {
        const c = captureIO();
        expect(await runCli([command.name, flag], c.io)).toBe(0);
        expect(c.out.join('\n')).toBe(command.help);
        expect(c.err).toEqual([]);
      }
    }
  });

  it('exits 2 on an unknown command or flag, naming it', async () => {
    const c = captureIO();
    expect(await runCli(['frobnicate'], c.io)).toBe(2);
    expect(c.err.join('\n')).toMatch(/unknown command 'frobnicate'/);
    const d = captureIO();
    expect(await runCli(['backend', '--nope'], d.io)).toBe(2);
    expect(d.err.join('\n')).toMatch(/--nope/);
  });

  it('names the command once in a usage error, however the error was worded', async () => {
    const cases = [
      ['train', '--data', 'd', '--labels', 'l.csv', '--preset', 'nope'],
      ['train', '--data', 'd', '--labels', 'l.csv', '--folds', '0'],
      ['train', '--data', 'd', '--labels', 'l.csv', '--micro-batch', '-1'],
      ['synth', '--out', 'o', '--cases', '2', '--seed', '1', '--fov', 'huge'],
      ['backend', '--nope'],
    ];
    for (const argv of cases) {
      const c = captureIO();
      expect(await runCli(argv, c.io)).toBe(2);
      const line = c.err.join('\n');
      expect(line).toMatch(new RegExp(`^mrn ${argv[0]}: `));
      expect(line).not.toMatch(new RegExp(`mrn ${argv[0]}: mrn ${argv[0]}`));
    }
  });
});
