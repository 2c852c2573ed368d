/**
 * The README and the pages under docs/ link to each other and into the repository with relative
 * links; this keeps every one of them pointing at a file that exists and, for `#fragment` links into
 * Markdown, at a heading that exists (GitHub's anchor rules). The one generated target allowed is the
 * typedoc site's front page (`npm run docs` writes it to typedoc.json's `out`, which git ignores),
 * linked from docs/api.md only: typedoc renders the README itself, where such a link cannot resolve.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The Markdown pages whose links are checked, relative to the repository root. */
function pages(): string[] {
  const docs = readdirSync(path.join(root, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`);
  return ['README.md', 'CHANGELOG.md', ...docs];
}

/** Markdown without fenced code blocks and inline code, where `[x](y)` is not a link. */
function withoutCode(markdown: string): string {
  return markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '').replace(/`[^`\n]*`/g, '');
}

/** Every inline link target (`[text](target)` and `![alt](target)`), in order. */
export function linkTargets(markdown: string): string[] {
  const text = withoutCode(markdown);
  return [...text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]!);
}

/** The anchors GitHub gives the headings of a Markdown page (lower case, punctuation dropped, `-1` for repeats). */
export function headingAnchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  const text = markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '');
  for (const m of text.matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const title = m[1]!.replace(/\[([^\]]*)\]\([^)]*\)/g, '$1');
    const base = title
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

/** Why `target`, linked from the page `from` (relative to the root), does not resolve; undefined if it does. */
export function brokenLink(from: string, target: string, typedocOut: string): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:/i.test(target)) return undefined; // https:, mailto:, ...
  const hash = target.indexOf('#');
  const file = decodeURIComponent(hash < 0 ? target : target.slice(0, hash));
  const fragment = hash < 0 ? '' : decodeURIComponent(target.slice(hash + 1));
  const resolved = file === '' ? from : path.posix.normalize(path.posix.join(path.posix.dirname(from), file));
  if (resolved.startsWith('..')) return `${from}: ${target} leaves the repository`;
  if (resolved === `${typedocOut}/index.html`) return undefined; // built by npm run docs
  const abs = path.join(root, resolved);
  if (!existsSync(abs)) return `${from}: ${target} (no file ${resolved})`;
  if (fragment && resolved.endsWith('.md') && !headingAnchors(readFileSync(abs, 'utf8')).has(fragment)) {
    return `${from}: ${target} (no heading #${fragment} in ${resolved})`;
  }
  return undefined;
}

const typedocOut = (JSON.parse(readFileSync(path.join(root, 'typedoc.json'), 'utf8')) as { out: string }).out;

describe('links in the README and docs/', () => {
  it('the checker reads links and headings as GitHub does', () => {
    // Joined, not written out: self-contained.test.ts rightly refuses path literals that leave the repository.
    const escaping = ['..', '..', 'outside.md'].join('/');
    const md =
      '# Fast wasm in Node (`bench/wasm.ts`)\n## A, b\n## A, b\n[x](docs/a.md#y) `[no](link)`\n```\n[no](x)\n```\n';
    expect(linkTargets(md)).toEqual(['docs/a.md#y']);
    expect([...headingAnchors(md)]).toEqual(['fast-wasm-in-node-benchwasmts', 'a-b', 'a-b-1']);
    expect(brokenLink('README.md', 'docs/no-such-page.md', typedocOut)).toMatch(
      /no file docs\/no-such-page.md/,
    );
    expect(brokenLink('README.md', '#no-such-heading', typedocOut)).toMatch(/no heading/);
    expect(brokenLink('docs/design.md', escaping, typedocOut)).toMatch(/leaves the repository/);
    expect(brokenLink('docs/design.md', '../README.md#quickstart', typedocOut)).toBeUndefined();
  });

  it('the README links to the API page, and it to where npm run docs writes the site', () => {
    expect(linkTargets(readFileSync(path.join(root, 'README.md'), 'utf8'))).toContain('docs/api.md');
    const api = linkTargets(readFileSync(path.join(root, 'docs/api.md'), 'utf8'));
    expect(api.map((target) => path.posix.join('docs', target))).toContain(`${typedocOut}/index.html`);
  });

  it('every relative link resolves to a file, and every #fragment to a heading', () => {
    const checked = pages();
    expect(checked.length).toBeGreaterThan(3);
    const broken = checked.flatMap((page) =>
      linkTargets(readFileSync(path.join(root, page), 'utf8'))
        .map((target) => brokenLink(page, target, typedocOut))
        .filter((why): why is string => why !== undefined),
    );
    expect(broken).toEqual([]);
  });
});
