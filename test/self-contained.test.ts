/**
 * A clone of the repository alone runs its tests: nothing in src/, test/, bench/ or examples/ reads
 * outside the repository (the fixtures live in test/fixtures/, see its README), and no test skips
 * itself (a missing fixture must fail, not skip). Also: mrn's declarations only import tfjs internals
 * by paths that resolve under `moduleResolution: nodenext` (with the `.js` extension).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const self = fileURLToPath(import.meta.url);
const SOURCE = /\.(ts|mts|cts|js|mjs|cjs|py|sh)$/;

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (SOURCE.test(name) && p !== self) out.push(p);
  }
  return out;
}

const files = ['src', 'test', 'bench', 'examples'].flatMap((d) => sources(path.join(root, d)));
const rel = (f: string) => path.relative(root, f);

describe('the repository is self-contained', () => {
  it('scans a plausible number of source files', () => {
    expect(files.length).toBeGreaterThan(100);
  });

  it('no source names ../shared, /work/ or a home folder', () => {
    const hits = files.flatMap((f) =>
      readFileSync(f, 'utf8')
        .split('\n')
        .map((line, i) => ({ line, at: `${rel(f)}:${i + 1}` }))
        .filter(({ line }) => /\.\.\/shared\b|['"`]\/work\/|['"`]\/home\/|['"`]~\//.test(line))
        .map(({ at, line }) => `${at}: ${line.trim()}`),
    );
    expect(hits).toEqual([]);
  });

  it('no relative path literal climbs out of the repository', () => {
    const hits: string[] = [];
    for (const f of files) {
      const text = readFileSync(f, 'utf8');
      for (const m of text.matchAll(/['"`]((?:\.\.\/)+[^'"`\s]*)['"`]/g)) {
        const target = path.resolve(path.dirname(f), m[1]!);
        if (path.relative(root, target).startsWith('..')) hits.push(`${rel(f)}: '${m[1]}'`);
      }
    }
    expect(hits).toEqual([]);
  });

  it('no test skips itself (a missing fixture is a failure)', () => {
    const hits = files
      .filter((f) => rel(f).startsWith('test'))
      .flatMap((f) =>
        readFileSync(f, 'utf8')
          .split('\n')
          .map((line, i) => ({ line, at: `${rel(f)}:${i + 1}` }))
          .filter(({ line }) =>
            /\b(it|test|describe)\.(skip|skipIf|runIf|todo)\b|\bctx\.skip\(|\.skip\(\s*\)/.test(line),
          )
          .map(({ at, line }) => `${at}: ${line.trim()}`),
      );
    expect(hits).toEqual([]);
  });
});

describe("mrn's declarations resolve for strict consumers", () => {
  it('deep imports of tfjs internals carry the .js extension (nodenext ESM resolution needs it)', () => {
    const hits = files
      .filter((f) => rel(f).startsWith('src'))
      .flatMap((f) =>
        [...readFileSync(f, 'utf8').matchAll(/from '(@tensorflow\/[^']+\/dist\/[^']*)'/g)]
          .filter((m) => !m[1]!.endsWith('.js'))
          .map((m) => `${rel(f)}: ${m[1]}`),
      );
    expect(hits).toEqual([]);
  });

  it('every module imported by the public declarations ships its own types or a @types dependency', () => {
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    // ndarray ships no types: its declarations come from @types/ndarray, which consumers must get too.
    expect(pkg.dependencies).toHaveProperty('ndarray');
    expect(pkg.dependencies).toHaveProperty('@types/ndarray');
  });
});
