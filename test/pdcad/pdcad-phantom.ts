/**
 * Small PDCAD-style phantom cases for the loader, preprocessing and cache tests: a 48x48x16 grid at
 * 0.667x0.667x2 mm stored LAS (like the challenge files), every QSM nucleus label as a 3x3 blob on its
 * side, NM SN at the QSM SN position, QSM values in ppb per nucleus, NM 100 with SN at 130.
 */

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createVolume, writeNifti, type Affine, type Volume } from '../../src/index.js';

export const PHANTOM_SHAPE: [number, number, number] = [48, 48, 16];
export const PHANTOM_AFFINE: Affine = [
  [-0.667, 0, 0, 16],
  [0, 0.667, 0, -16],
  [0, 0, 2, -10],
  [0, 0, 0, 1],
];

/** Right-label nuclei: [right label, lateral offset dx from the midline (RAS i), j, k range], ppb. */
const NUCLEI: { label: number; dx: number; j: number; k: [number, number]; ppb: number }[] = [
  { label: 1, dx: 6, j: 34, k: [9, 12], ppb: 60 },
  { label: 3, dx: 12, j: 30, k: [8, 11], ppb: 70 },
  { label: 5, dx: 9, j: 28, k: [8, 10], ppb: 180 },
  { label: 7, dx: 4, j: 22, k: [8, 12], ppb: 20 },
  { label: 9, dx: 5, j: 20, k: [6, 7], ppb: 90 },
  { label: 11, dx: 7, j: 16, k: [5, 7], ppb: 150 },
  { label: 13, dx: 3, j: 15, k: [5, 7], ppb: 120 },
  { label: 15, dx: 8, j: 6, k: [1, 3], ppb: 110 },
];

export interface PhantomVolumes {
  QSM: Volume<Float32Array>;
  NM: Volume<Float32Array>;
  QSM_mask: Volume<Uint8Array>;
  NM_mask: Volume<Uint8Array>;
}

/** Builds the four volumes; `drop` removes QSM mask labels (before NM SN is derived from labels 11/12). */
export function phantomVolumes(drop: number[] = []): PhantomVolumes {
  const [nx, ny, nz] = PHANTOM_SHAPE;
  const qsm = new Float32Array(nx * ny * nz);
  const nm = new Float32Array(nx * ny * nz).fill(100);
  const qmask = new Uint8Array(nx * ny * nz);
  const nmask = new Uint8Array(nx * ny * nz);
  const mid = nx / 2; // RAS midline between columns 23 and 24
  for (const n of NUCLEI) {
    for (const [label, ras] of [
      [n.label, mid + n.dx],
      [n.label + 1, mid - 1 - n.dx],
    ] as const) {
      for (let k = n.k[0]; k <= n.k[1]; k++)
        for (let j = n.j - 1; j <= n.j + 1; j++)
          for (let r = ras - 1; r <= ras + 1; r++) {
            const i = nx - 1 - r; // stored LAS: i runs right-to-left
            const p = i + nx * (j + ny * k);
            qsm[p] = n.ppb;
            if (!drop.includes(label)) qmask[p] = label;
            if (n.label === 11) {
              nmask[p] = label === 11 ? 1 : 2;
              nm[p] = 130;
            }
          }
    }
  }
  return {
    QSM: createVolume(qsm, PHANTOM_SHAPE, PHANTOM_AFFINE, 'QSM'),
    NM: createVolume(nm, PHANTOM_SHAPE, PHANTOM_AFFINE, 'NM'),
    QSM_mask: createVolume(qmask, PHANTOM_SHAPE, PHANTOM_AFFINE, 'QSM_mask'),
    NM_mask: createVolume(nmask, PHANTOM_SHAPE, PHANTOM_AFFINE, 'NM_mask'),
  };
}

/** Writes a phantom case folder `dir/id/` with the four files (minus `skip`). */
export async function writePhantomCase(
  dir: string,
  id: string,
  volumes: PhantomVolumes = phantomVolumes(),
  skip: string[] = [],
): Promise<string> {
  const caseDir = join(dir, id);
  await mkdir(caseDir, { recursive: true });
  for (const role of ['QSM', 'NM', 'QSM_mask', 'NM_mask'] as const) {
    if (skip.includes(role)) continue;
    await writeNifti(volumes[role], join(caseDir, `${role}.nii.gz`));
  }
  return caseDir;
}

/** Writes a CSV of `case,label` rows. */
export async function writeLabels(path: string, rows: [string, number | string][]): Promise<void> {
  await writeFile(path, ['case,label', ...rows.map(([c, l]) => `${c},${l}`)].join('\n') + '\n');
}
