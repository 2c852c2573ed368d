import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { readNifti } from '../../src/io/nifti-reader.js';
import { generateSyntheticMasks } from '../../src/synth/cohort.js';
import { QSM_NUCLEUS_NAMES } from '../../src/preprocess/nucleus-labels.js';
import { synthGrid } from '../../src/synth/anatomy.js';
import { isMrnError } from '../../src/errors.js';
import { labelStats, outOfRange, type RealRange } from './mask-stats.js';
import { thrownBy } from '../helpers/errors.js';

const stats = JSON.parse(
  readFileSync(new URL('../fixtures/synth/real-mask-stats.json', import.meta.url), 'utf8'),
) as {
  header: Record<string, { shape: number[]; affine: number[][]; axcodes: string }>;
  per_subject: Record<
    string,
    Record<
      string,
      Record<string, { volume_cm3: number; centroid_mm: number[]; extent_mm: number[]; slices: number }>
    >
  >;
  ranges: { QSM_mask: Record<string, RealRange>; NM_mask: Record<string, RealRange> };
};
const realDir = fileURLToPath(new URL('../fixtures/pdcad-samples/', import.meta.url));

describe('synthetic anatomy vs the five real mask sets', () => {
  it("the full grid reproduces the real files' affine and shape", () => {
    const g = synthGrid('full');
    expect(g.shape).toEqual(stats.header.QSM_mask!.shape);
    for (let r = 0; r < 4; r++) {
      for (let c = 0; c < 4; c++)
        expect(g.affine[r]![c]!).toBeCloseTo(stats.header.QSM_mask!.affine[r]![c]!, 6);
    }
    // The small grid keeps world coordinates: voxel (0,0,0) of it is voxel origin of the full grid.
    const s = synthGrid('small');
    expect(s.shape).toEqual([160, 160, 40]);
    expect(s.affine[0]![3]).toBeCloseTo(-s.origin[0] * (2 / 3), 9);
    expect(s.affine[2]![3]).toBeCloseTo(s.origin[2] * 2, 9);
  });

  it('rejects a malformed field of view', () => {
    expect(() => synthGrid({ shape: [10, 10], origin: [0, 0, 0] } as never)).toThrow(/fov must be/);
    expect(() => synthGrid('huge' as never)).toThrowError(
      expect.objectContaining({ code: 'E_INVALID_ARGUMENT' }),
    );
  });

  it('nucleus volumes, centroids and extents of 24 subjects fall within the real ranges (+25% volume, +-3 mm)', () => {
    const problems: string[] = [];
    let hcCases = 0;
    for (let index = 0; index < 24; index++) {
      const m = generateSyntheticMasks(index, { cases: 24, seed: 11, fov: 'small' });
      for (let l = 1; l <= 16; l++) {
        const s = labelStats(m.qsmMask, m.grid.shape, m.grid.affine, l);
        if (!s) problems.push(`${m.id} label ${l} empty`);
        else
          problems.push(
            ...outOfRange(s, stats.ranges.QSM_mask[String(l)]!, `${m.id} ${QSM_NUCLEUS_NAMES[l - 1]}`),
          );
      }
      for (let l = 1; l <= 2; l++) {
        const s = labelStats(m.nmMask, m.grid.shape, m.grid.affine, l);
        if (!s) {
          problems.push(`${m.id} NM label ${l} empty`);
          continue;
        }
        const bad = outOfRange(s, stats.ranges.NM_mask[String(l)]!, `${m.id} NM ${l}`);
        // PD shrinks the NM-visible SN on purpose (20-40% in the literature): only its position and
        // extent must stay real; controls must match in volume too.
        problems.push(...(m.label === 1 ? bad.filter((b) => !b.includes('volume')) : bad));
      }
      if (m.label === 0) hcCases++;
    }
    expect(hcCases).toBeGreaterThan(6);
    expect(problems).toEqual([]);
  });

  it('the NM-visible SN overlaps the QSM SN of its side, like the real masks (~70%)', () => {
    const m = generateSyntheticMasks(0, { cases: 1, seed: 2, fov: 'small' });
    for (const [nmLabel, qsmLabel] of [
      [1, 11],
      [2, 12],
    ] as const) {
      let inside = 0;
      let total = 0;
      for (let v = 0; v < m.nmMask.length; v++) {
        if (m.nmMask[v] !== nmLabel) continue;
        total++;
        if (m.qsmMask[v] === qsmLabel) inside++;
      }
      expect(total).toBeGreaterThan(100);
      expect(inside / total).toBeGreaterThan(0.5);
      expect(inside / total).toBeLessThan(0.95);
    }
  });

  it('the fixture matches the real masks read with readNifti (test/fixtures/pdcad-samples)', async () => {
    const subject = 'RJPD_005';
    for (const kind of ['QSM_mask', 'NM_mask'] as const) {
      const vol = await readNifti(`${realDir}${subject}/${kind}.nii.gz`);
      const labels = vol.data.data;
      for (const l of kind === 'QSM_mask' ? [1, 9, 11, 14, 16] : [1, 2]) {
        const s = labelStats(labels, vol.shape, vol.affine, l)!;
        const ref = stats.per_subject[subject]![kind]![String(l)]!;
        expect(s.volumeCm3).toBeCloseTo(ref.volume_cm3, 5);
        for (let d = 0; d < 3; d++) {
          expect(s.centroidMm[d]!).toBeCloseTo(ref.centroid_mm[d]!, 3);
          expect(s.extentMm[d]!).toBeCloseTo(ref.extent_mm[d]!, 3);
        }
        expect(s.slices).toBe(ref.slices);
      }
    }
  });

  it('generateSyntheticMasks rejects bad indices and options with E_INVALID_ARGUMENT', () => {
    for (const [index, o] of [
      [-1, { cases: 1, seed: 1 }],
      [1.5, { cases: 1, seed: 1 }],
      [0, { cases: 0, seed: 1 }],
      [0, { cases: 1, seed: 0.5 }],
      [0, { cases: 1, seed: 1, pdFraction: 2 }],
      [0, { cases: 1, seed: 1, difficulty: 0 }],
      [0, { cases: 1, seed: 1, datatype: 'int8' }],
      [0, { cases: 1, seed: 1, effects: { nmVolumeLoss: -1 } }],
    ] as const) {
      const err = thrownBy(() => generateSyntheticMasks(index, o as never), JSON.stringify([index, o]));
      expect(isMrnError(err, 'E_INVALID_ARGUMENT'), JSON.stringify([index, o])).toBe(true);
    }
  });
});
