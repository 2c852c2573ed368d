import { describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/run-cli.js';
import { captureIO } from '../helpers/cli-io.js';

describe('mrn backend', () => {
  it('mrn backend --json reports the chosen backend', async () => {
    const c = captureIO();
    expect(await runCli(['backend', '--json'], c.io)).toBe(0);
    expect(JSON.parse(c.out.join('\n')).backend).toBe('wasm');
  });
});
