import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

describe('source size limits (bench/tools/function-lengths.mjs)', () => {
  it('no function in src/ is over 80 lines and no source file over 500', () => {
    const run = spawnSync(process.execPath, ['bench/tools/function-lengths.mjs', 'src'], {
      cwd: root,
      encoding: 'utf8',
    });
    // The checker lists every offender; show them when this fails.
    expect(run.stdout).toContain('0 functions over 80 lines, 0 files over 500 lines');
    expect(run.status).toBe(0);
  });

  it('the checker notices a long function', () => {
    const run = spawnSync(
      process.execPath,
      ['bench/tools/function-lengths.mjs', '--max-lines', '5', 'src/preprocess'],
      { cwd: root, encoding: 'utf8' },
    );
    expect(run.status).toBe(1);
    expect(run.stdout).toMatch(/src\/preprocess\/\S+\.ts:\d+/);
  });
});
