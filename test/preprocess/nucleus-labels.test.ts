/**
 * The challenge's label table: consistent with itself (names, sides, partners), with the ROI
 * definitions built from it (the numbers, and so the ROI cache keys, they always had), and with the
 * real masks in test/fixtures/pdcad-samples (sides by position, the NM SN on the QSM SN).
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  lrPartners,
  MRN_ROIS,
  NM_NUCLEUS_NAMES,
  nucleusLabel,
  nucleusLabels,
  nucleusLrPairs,
  PDCAD_LR_PAIRS,
  PDCAD_QSM_SN_TO_NM,
  QSM_NUCLEUS_NAMES,
  readNifti,
  reorientToCanonical,
  type Volume,
} from '../../src/index.js';

const SAMPLES = fileURLToPath(new URL('../fixtures/pdcad-samples/', import.meta.url));

describe('the label table', () => {
  it('names every label <nucleus>_<side>, once per mask', () => {
    for (const names of [QSM_NUCLEUS_NAMES, NM_NUCLEUS_NAMES]) {
      expect(new Set(names).size).toBe(names.length);
      for (const n of names) expect(n).toMatch(/^[A-Z]+_[RL]$/);
    }
    expect(QSM_NUCLEUS_NAMES).toHaveLength(16);
    expect(nucleusLabel('QSM', 'SN_R')).toBe(11);
    expect(nucleusLabel('NM', 'SN_L')).toBe(2);
    expect(nucleusLabel('NM', 'CN_R')).toBeUndefined();
    expect(nucleusLabels('QSM', 'STN', 'SN', 'RN')).toEqual([9, 10, 11, 12, 13, 14]);
  });

  it('pairs each right label with the left label of the same nucleus, symmetrically', () => {
    for (const mask of ['QSM', 'NM'] as const) {
      const names = mask === 'QSM' ? QSM_NUCLEUS_NAMES : NM_NUCLEUS_NAMES;
      const pairs = nucleusLrPairs(mask);
      expect(pairs).toHaveLength(names.length / 2);
      const partner = lrPartners(pairs);
      expect(partner.size).toBe(names.length);
      for (const [label, other] of partner) {
        expect(other).not.toBe(label);
        expect(partner.get(other)).toBe(label);
        expect(names[label - 1]!.slice(0, -2)).toBe(names[other - 1]!.slice(0, -2));
      }
      for (const [r, l] of pairs)
        expect([names[r - 1]!.slice(-1), names[l - 1]!.slice(-1)]).toEqual(['R', 'L']);
    }
    // What the challenge's numbering amounts to: right odd, its left partner the next label.
    expect(nucleusLrPairs('QSM')).toEqual([1, 3, 5, 7, 9, 11, 13, 15].map((r) => [r, r + 1]));
    expect(PDCAD_LR_PAIRS).toEqual(nucleusLrPairs('QSM'));
    expect(nucleusLrPairs('QSM', [9, 10, 11, 13])).toEqual([[9, 10]]);
  });

  it('maps the QSM SN onto the NM SN side by side', () => {
    expect(PDCAD_QSM_SN_TO_NM).toEqual([
      [11, 1],
      [12, 2],
    ]);
  });

  it('builds the MRN ROIs with the numbers they always had (the ROI cache hashes them)', () => {
    const bg = (x: object) => [{ name: 'background', labels: [] }, x];
    const margin = [4, 4, 2];
    const expected = [
      {
        id: 'nm-sn',
        image: 'NM',
        labels: [1, 2],
        classes: bg({ name: 'SN', labels: [1, 2] }),
        marginMm: margin,
        slices: 8,
        lrPairs: [[1, 2]],
        typicalExtentMm: [28, 12, 12],
      },
      {
        id: 'qsm-bg',
        image: 'QSM',
        labels: [1, 2, 3, 4, 5, 6, 7, 8],
        classes: [
          { name: 'background', labels: [] },
          { name: 'CN', labels: [1, 2] },
          { name: 'PUT', labels: [3, 4] },
          { name: 'GP', labels: [5, 6] },
          { name: 'THA', labels: [7, 8] },
        ],
        marginMm: margin,
        slices: 20,
        lrPairs: [
          [1, 2],
          [3, 4],
          [5, 6],
          [7, 8],
        ],
        typicalExtentMm: [64, 58, 34],
      },
      {
        id: 'qsm-mb',
        image: 'QSM',
        labels: [9, 10, 11, 12, 13, 14],
        classes: [
          { name: 'background', labels: [] },
          { name: 'STN', labels: [9, 10] },
          { name: 'SN', labels: [11, 12] },
          { name: 'RN', labels: [13, 14] },
        ],
        marginMm: margin,
        slices: 10,
        lrPairs: [
          [9, 10],
          [11, 12],
          [13, 14],
        ],
        typicalExtentMm: [30, 19, 14],
      },
      {
        id: 'qsm-dn',
        image: 'QSM',
        labels: [15, 16],
        classes: bg({ name: 'DN', labels: [15, 16] }),
        marginMm: margin,
        slices: 8,
        lrPairs: [[15, 16]],
        typicalExtentMm: [38, 19, 12],
      },
    ];
    // Same keys in the same order and the same numbers: the JSON text, not just deep equality.
    expect(JSON.stringify(MRN_ROIS)).toBe(JSON.stringify(expected));
  });
});

/** Mean voxel column `i` and voxel count of each label of a mask. */
function labelColumns(mask: Volume): Map<number, { meanI: number; count: number }> {
  const acc = new Map<number, { sumI: number; count: number }>();
  const d = mask.data.data;
  const nx = mask.shape[0];
  for (let p = 0; p < d.length; p++) {
    if (!d[p]) continue;
    const a = acc.get(d[p]!) ?? { sumI: 0, count: 0 };
    a.sumI += p % nx;
    a.count++;
    acc.set(d[p]!, a);
  }
  return new Map([...acc].map(([l, a]) => [l, { meanI: a.sumI / a.count, count: a.count }]));
}

describe('the label table against the real masks (pdcad-samples)', () => {
  const cases = readdirSync(SAMPLES).filter((n) => n.startsWith('RJPD_'));

  it.each(cases)('%s: every label is in the table, right labels lie right of their partners', async (id) => {
    const qsm = reorientToCanonical(await readNifti(join(SAMPLES, id, 'QSM_mask.nii.gz')));
    const nm = reorientToCanonical(await readNifti(join(SAMPLES, id, 'NM_mask.nii.gz')));
    for (const [mask, vol] of [
      ['QSM', qsm],
      ['NM', nm],
    ] as const) {
      const cols = labelColumns(vol);
      const names = mask === 'QSM' ? QSM_NUCLEUS_NAMES : NM_NUCLEUS_NAMES;
      expect([...cols.keys()].sort((a, b) => a - b)).toEqual(names.map((_, i) => i + 1));
      // Canonical RAS+: i grows towards the subject's right.
      for (const [r, l] of nucleusLrPairs(mask))
        expect(cols.get(r)!.meanI).toBeGreaterThan(cols.get(l)!.meanI);
    }
    // Each NM SN label overlaps, among the QSM labels, its mapped QSM SN label the most.
    const q = qsm.data.data;
    const n = nm.data.data;
    for (const [qsmLabel, nmLabel] of PDCAD_QSM_SN_TO_NM) {
      const hits = new Map<number, number>();
      for (let p = 0; p < n.length; p++)
        if (n[p] === nmLabel && q[p]) hits.set(q[p]!, (hits.get(q[p]!) ?? 0) + 1);
      const best = [...hits].sort((a, b) => b[1] - a[1])[0]!;
      expect(best[0]).toBe(qsmLabel);
    }
  });
});
