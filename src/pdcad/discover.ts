/**
 * Finding a cohort's case folders and a case's files on disk, symlinks included: a link that points
 * nowhere or loops is reported as such, never mistaken for a missing file.
 */

import type { Dirent } from 'node:fs';
import { lstat, readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PDCAD_FILE_ROLES, type PdcadFileRole, type PdcadProblem } from './pdcad-case.js';

/** The file name stem of each role (`QSM` -> `QSM.nii.gz` or `QSM.nii`). */
export const PDCAD_FILE_NAMES: Record<PdcadFileRole, string> = {
  QSM: 'QSM',
  NM: 'NM',
  QSM_mask: 'QSM_mask',
  NM_mask: 'NM_mask',
};

/** What a path is once symlinks are followed. */
type PathProbe =
  | { kind: 'file' | 'dir' | 'other'; link?: string }
  | { kind: 'missing' }
  | { kind: 'broken' | 'loop'; link: string };

/**
 * Follows `path` (symlinks included, relative or absolute targets). A dangling link and a link loop
 * (the OS gives up after its hop limit, so this never hangs) are told apart from a plain missing path.
 */
export async function probePath(path: string): Promise<PathProbe> {
  let own;
  try {
    own = await lstat(path);
  } catch {
    return { kind: 'missing' };
  }
  const link = own.isSymbolicLink() ? await readlink(path).catch(() => '?') : undefined;
  try {
    const s = link === undefined ? own : await stat(path);
    return { kind: s.isFile() ? 'file' : s.isDirectory() ? 'dir' : 'other', ...(link ? { link } : {}) };
  } catch (e) {
    return { kind: (e as NodeJS.ErrnoException).code === 'ELOOP' ? 'loop' : 'broken', link: link ?? '?' };
  }
}

/** Why a probed symlink is unusable, in words. */
export function brokenLinkReason(name: string, probe: { kind: 'broken' | 'loop'; link: string }): string {
  return probe.kind === 'loop'
    ? `${name} is a symlink loop (via '${probe.link}')`
    : `${name} is a symlink to '${probe.link}', which does not exist`;
}

/**
 * Finds `stem.nii.gz` or `stem.nii` in `dir`, following symlinks. A broken link is returned as such
 * (when no other candidate is a file), so the case can say which link is broken.
 */
export async function findFile(
  dir: string,
  stem: string,
): Promise<{ path: string; broken?: { kind: 'broken' | 'loop'; link: string } } | undefined> {
  let broken: { path: string; broken: { kind: 'broken' | 'loop'; link: string } } | undefined;
  for (const ext of ['.nii.gz', '.nii']) {
    const p = join(dir, stem + ext);
    const probe = await probePath(p);
    if (probe.kind === 'file') return { path: p };
    if ((probe.kind === 'broken' || probe.kind === 'loop') && !broken) broken = { path: p, broken: probe };
  }
  return broken;
}

/**
 * The case folders among a cohort folder's `entries`, sorted by name: sub-folders (or links to them)
 * named `RJPD_*` or holding at least one of the four files. Case folders may be symlinks (splits made
 * of links to the case folders); a link that points nowhere is returned as an `E_LINK_BROKEN` problem
 * under its name, as it was most likely meant to be a case.
 */
export async function discoverCaseFolders(
  dir: string,
  entries: Dirent[],
): Promise<{ candidates: string[]; brokenLinks: PdcadProblem[] }> {
  const candidates: string[] = [];
  const brokenLinks: PdcadProblem[] = [];
  const names = entries.map((e) => e.name).sort();
  const byName = new Map(entries.map((e) => [e.name, e]));
  for (const name of names) {
    const entry = byName.get(name)!;
    if (!entry.isDirectory() && !entry.isSymbolicLink()) continue;
    const path = join(dir, name);
    const probe = entry.isSymbolicLink() ? await probePath(path) : ({ kind: 'dir' } as const);
    if (probe.kind === 'broken' || probe.kind === 'loop') {
      brokenLinks.push({
        caseId: name,
        severity: 'error',
        code: 'E_LINK_BROKEN',
        reason: brokenLinkReason(`case folder ${name}`, probe),
        file: path,
      });
      continue;
    }
    if (probe.kind !== 'dir') continue;
    if (/^RJPD_/i.test(name)) {
      candidates.push(name);
      continue;
    }
    for (const role of PDCAD_FILE_ROLES) {
      if (await findFile(path, PDCAD_FILE_NAMES[role])) {
        candidates.push(name);
        break;
      }
    }
  }
  return { candidates, brokenLinks };
}
