/**
 * test/ mirrors src/ (and examples/): every test file outside the cross-cutting suites is named after
 * the module it tests, `test/<dir>/<module>.test.ts` or `test/<dir>/<module>.<aspect>.test.ts` for
 * `src/<dir>/<module>.ts` (or a folder module's `index.ts`). The rules are in test/README.md.
 */
import { readdirSync, statSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Suites that test the whole library (end to end, fuzzing, crashes, the browser), not one module. */
const CROSS_CUTTING_FOLDERS = ['test/e2e', 'test/fuzz', 'test/crash', 'test/browser'];

/** Repository checks at test/ top level: they read the repository itself, not a module. */
const REPOSITORY_CHECKS = [
  'test/self-contained.test.ts',
  'test/docs-links.test.ts',
  'test/package.test.ts',
  'test/import-boundaries.test.ts',
  'test/browser-build.test.ts',
  'test/test-layout.test.ts',
  'test/function-lengths.test.ts',
];

function testFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...testFiles(p));
    else if (name.endsWith('.test.ts')) out.push(path.relative(root, p).split(path.sep).join('/'));
  }
  return out;
}

/** The module a test file is named after: the file name up to its first dot, under src/ or examples/. */
function testedModule(file: string): string | undefined {
  const dir = path.posix.dirname(file);
  const module = path.posix.basename(file).split('.')[0]!;
  const sourceDir = dir === 'test/examples' ? 'examples' : dir.replace(/^test/, 'src');
  const candidates = [`${sourceDir}/${module}.ts`, `${sourceDir}/${module}/index.ts`];
  return candidates.find((c) => existsSync(path.join(root, c)));
}

const files = testFiles(path.join(root, 'test'));

describe('test files mirror source modules', () => {
  it('finds the test files', () => {
    expect(files.length).toBeGreaterThan(50);
  });

  it('every test file outside the cross-cutting suites is named after the module it tests', () => {
    const misplaced = files.filter(
      (f) =>
        !CROSS_CUTTING_FOLDERS.some((d) => f.startsWith(`${d}/`)) &&
        !REPOSITORY_CHECKS.includes(f) &&
        testedModule(f) === undefined,
    );
    expect(misplaced, 'no src/ module of that name in the mirrored folder (see test/README.md)').toEqual([]);
  });

  it('the listed exceptions exist', () => {
    for (const f of REPOSITORY_CHECKS) expect(existsSync(path.join(root, f)), f).toBe(true);
    for (const d of CROSS_CUTTING_FOLDERS) expect(existsSync(path.join(root, d)), d).toBe(true);
  });
});
