/**
 * The layout's promises that imports could quietly break: the simulator (src/synth) is used only by
 * the CLI, so no model, data or training code depends on it; and the package root does not export the
 * simulator or the plots, which are the subpaths `mrn/synth` and `mrn/plots`.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const src = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'src');

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    return statSync(p).isDirectory() ? tsFiles(p) : name.endsWith('.ts') ? [p] : [];
  });
}

/** Repository-relative targets (under src/) of a file's relative imports and re-exports. */
function importTargets(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:from\s+|import\s*\(\s*)['"](\.{1,2}\/[^'"]+)['"]/g)].map((m) => m[1]!);
  return specs.map((s) =>
    path
      .relative(src, path.resolve(path.dirname(file), s))
      .split(path.sep)
      .join('/'),
  );
}

const files = tsFiles(src);
const rel = (f: string) => path.relative(src, f).split(path.sep).join('/');

describe('import boundaries', () => {
  it('finds the sources and their imports', () => {
    expect(files.length).toBeGreaterThan(50);
    expect(importTargets(path.join(src, 'cli', 'synth-command.ts')).some((t) => t.startsWith('synth/'))).toBe(
      true,
    );
  });

  it('only src/synth and src/cli import the simulator', () => {
    const offenders = files
      .filter((f) => !/^(synth|cli)\//.test(rel(f)))
      .flatMap((f) =>
        importTargets(f)
          .filter((t) => t.startsWith('synth/'))
          .map((t) => `${rel(f)} -> ${t}`),
      );
    expect(offenders).toEqual([]);
  });

  it('the package root exports neither the simulator nor the plots', () => {
    const fromRoot = importTargets(path.join(src, 'index.ts'));
    expect(fromRoot.filter((t) => /^(synth|plots)\//.test(t))).toEqual([]);
    expect(fromRoot.length).toBeGreaterThan(50);
  });
});
