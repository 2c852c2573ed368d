import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  createVolume,
  cropRoi,
  getMrnRoi,
  MRN_ROIS,
  MrnError,
  readNifti,
  reorientToCanonical,
  roiLabelToClass,
  worldBoxToVoxels,
  type RoiDefinition,
  type Volume,
} from '../../src/index.js';

const SAMPLES = fileURLToPath(new URL('../fixtures/pdcad-samples/', import.meta.url));
const CASES = ['RJPD_002', 'RJPD_005', 'RJPD_006', 'RJPD_010', 'RJPD_011'];
/** Python (nibabel as_closest_canonical) label extents per case and ROI, see test/fixtures/rois/. */
const EXTENTS = JSON.parse(
  readFileSync(new URL('../fixtures/rois/extents.json', import.meta.url), 'utf8'),
) as Record<string, Record<string, { start: number[]; end: number[]; voxels: Record<string, number> }>>;

interface Masks {
  raw: Record<'QSM' | 'NM', Volume>;
  ras: Record<'QSM' | 'NM', Volume>;
}
const masks = new Map<string, Masks>();

beforeAll(async () => {
  for (const c of CASES) {
    const qsm = await readNifti(`${SAMPLES}${c}/QSM_mask.nii.gz`);
    const nm = await readNifti(`${SAMPLES}${c}/NM_mask.nii.gz`);
    masks.set(c, {
      raw: { QSM: qsm, NM: nm },
      ras: { QSM: reorientToCanonical(qsm), NM: reorientToCanonical(nm) },
    });
  }
});

function countLabels(v: Volume, labels: readonly number[], box?: { start: number[]; end: number[] }): number {
  const [nx, ny, nz] = v.shape;
  const want = new Set(labels);
  const s = box?.start ?? [0, 0, 0];
  const e = box?.end ?? [nx, ny, nz];
  let n = 0;
  for (let k = s[2]!; k < e[2]!; k++)
    for (let j = s[1]!; j < e[1]!; j++)
      for (let i = s[0]!; i < e[0]!; i++) if (want.has(v.data.get(i, j, k))) n++;
  return n;
}

function copyWith(v: Volume, f: (label: number) => number): Volume {
  const out = Int32Array.from(v.data.data, (x) => f(x));
  return createVolume(out, v.shape, v.affine, v.name);
}

describe('cropRoi on the real PDCAD masks (mask as stand-in image)', () => {
  it('every ROI box contains every voxel of its labels, with roi.slices slices and no cut voxels', () => {
    for (const c of CASES) {
      const m = masks.get(c)!;
      for (const roi of MRN_ROIS) {
        const mask = m.ras[roi.image];
        const crop = cropRoi(mask, mask, roi, { caseId: c });
        const total = countLabels(mask, roi.labels);
        expect(total).toBeGreaterThan(0);
        expect(countLabels(mask, roi.labels, crop.box)).toBe(total);
        expect(crop.report.cutLabelVoxels).toBe(0);
        expect(crop.report.missingLabels).toEqual([]);
        expect(crop.image.shape[2]).toBe(roi.slices);
        expect(crop.box.end[2] - crop.box.start[2]).toBe(roi.slices);
        expect(crop.valid.every(Boolean)).toBe(true);
        // Labelled slices agree with nibabel's canonical extents.
        const ref = EXTENTS[c]![roi.id]!;
        const labelled = new Set<number>();
        for (let z = 0; z < roi.slices; z++)
          for (let j = 0; j < crop.mask.shape[1]; j++)
            for (let i = 0; i < crop.mask.shape[0]; i++) if (crop.mask.data.get(i, j, z) > 0) labelled.add(z);
        expect(labelled.size).toBe(ref.end[2]! - ref.start[2]!);
        // Margin: at least ceil(marginMm / spacing) voxels around the labels unless the volume edge is hit.
        for (let d = 0; d < 2; d++) {
          const margin = Math.ceil(roi.marginMm[d]! / mask.spacing[d]! - 1e-9);
          expect(crop.box.start[d]).toBe(Math.max(0, ref.start[d]! - margin));
          expect(crop.box.end[d]).toBe(Math.min(mask.shape[d]!, ref.end[d]! + margin));
        }
      }
    }
  });

  it('remapped masks hold exactly the ROI classes, voxel for voxel', () => {
    for (const c of CASES) {
      for (const roi of MRN_ROIS) {
        const mask = masks.get(c)!.ras[roi.image];
        const crop = cropRoi(mask, mask, roi);
        const classes = new Set(crop.mask.data.data);
        expect([...classes].sort()).toEqual(roi.classes.map((_, i) => i));
        const lut = roiLabelToClass(roi);
        const img = crop.image.data.data;
        const cls = crop.mask.data.data;
        let wrong = 0;
        for (let p = 0; p < cls.length; p++) if (cls[p] !== (lut[img[p]!] ?? 0)) wrong++;
        expect(wrong).toBe(0);
      }
    }
  });

  it('maps the crop box back through world coordinates onto the same voxels, in either orientation', () => {
    for (const c of CASES.slice(0, 2)) {
      const m = masks.get(c)!;
      for (const roi of MRN_ROIS) {
        const crop = cropRoi(m.ras[roi.image], m.ras[roi.image], roi);
        expect(worldBoxToVoxels(crop.box.world, m.ras[roi.image])).toEqual({
          start: crop.box.start,
          end: crop.box.end,
        });
        // The original files are LAS: the same world box must hold the same labels, i mirrored.
        const raw = m.raw[roi.image];
        expect(raw.affine[0]![0]!).toBeLessThan(0);
        const back = worldBoxToVoxels(crop.box.world, raw);
        const [cx, cy, cz] = crop.image.shape;
        expect([
          back.end[0] - back.start[0],
          back.end[1] - back.start[1],
          back.end[2] - back.start[2],
        ]).toEqual([cx, cy, cz]);
        let wrong = 0;
        let labelled = 0;
        for (let k = 0; k < cz; k++)
          for (let j = 0; j < cy; j++)
            for (let i = 0; i < cx; i++) {
              const fromRaw = raw.data.get(back.end[0] - 1 - i, back.start[1] + j, back.start[2] + k);
              if (fromRaw !== crop.image.data.get(i, j, k)) wrong++;
              if (fromRaw > 0) labelled++;
            }
        expect(wrong).toBe(0);
        expect(labelled).toBeGreaterThan(0);
        // And the crop's own affine places its voxel (0,0,0) at the box's first world corner.
        crop.box.world.first.forEach((x, d) => expect(crop.image.affine[d]![3]).toBeCloseTo(x, 9));
      }
    }
  });

  it('throws E_ORIENTATION for volumes that are not canonical RAS+, E_GRID_MISMATCH for different grids', () => {
    const m = masks.get('RJPD_002')!;
    const roi = getMrnRoi('qsm-dn');
    expect(() => cropRoi(m.raw.QSM, m.raw.QSM, roi, { caseId: 'RJPD_002' })).toThrow(
      /canonical RAS\+.*RJPD_002/,
    );
    try {
      cropRoi(m.raw.QSM, m.ras.QSM, roi);
      expect.unreachable();
    } catch (e) {
      expect((e as MrnError).code).toBe('E_ORIENTATION');
    }
    const shifted = createVolume(
      m.ras.QSM.data.data,
      m.ras.QSM.shape,
      m.ras.QSM.affine.map((r, i) => (i === 0 ? [r[0]!, r[1]!, r[2]!, r[3]! + 2] : r)),
    );
    expect(() => cropRoi(m.ras.QSM, shifted, roi)).toThrow(
      expect.objectContaining({ code: 'E_GRID_MISMATCH' }),
    );
  });
});

describe('cropRoi fallbacks and depth handling', () => {
  it('mirrors a missing nucleus from its partner and still covers where it was', () => {
    const mask = masks.get('RJPD_005')!.ras.QSM;
    const erased = copyWith(mask, (l) => (l === 12 ? 0 : l)); // left SN missing
    const roi = getMrnRoi('qsm-mb');
    const crop = cropRoi(erased, erased, roi, { caseId: 'RJPD_005' });
    expect(crop.report.missingLabels).toEqual([12]);
    expect(crop.report.fallbacks).toEqual([{ label: 12, strategy: 'mirror', from: 11 }]);
    // Where the real left SN was is inside the box.
    expect(countLabels(mask, [12], crop.box)).toBe(countLabels(mask, [12]));
    expect(new Set(crop.mask.data.data).has(2)).toBe(true); // right SN is still class 2
  });

  it('grows the box to the typical extent when both sides of a nucleus are missing', () => {
    const mask = masks.get('RJPD_006')!.ras.QSM;
    const erased = copyWith(mask, (l) => (l === 9 || l === 10 ? 0 : l));
    const roi = getMrnRoi('qsm-mb');
    const crop = cropRoi(erased, erased, roi);
    expect(crop.report.fallbacks.map((f) => f.strategy)).toEqual(['typical-extent', 'typical-extent']);
    expect(countLabels(mask, [9, 10], crop.box)).toBe(countLabels(mask, [9, 10]));
    expect((crop.box.end[0] - crop.box.start[0]) * mask.spacing[0]).toBeGreaterThanOrEqual(
      roi.typicalExtentMm[0],
    );
    expect([...new Set(crop.mask.data.data)].sort()).toEqual([0, 2, 3]);
  });

  it('throws E_LABEL_MISSING with the case id when no label of the ROI is present', () => {
    const mask = masks.get('RJPD_002')!.ras.QSM;
    const erased = copyWith(mask, (l) => (l === 15 || l === 16 ? 0 : l));
    expect(() => cropRoi(erased, erased, getMrnRoi('qsm-dn'), { caseId: 'RJPD_002' })).toThrow(
      expect.objectContaining({ code: 'E_LABEL_MISSING', caseId: 'RJPD_002' }),
    );
  });

  it('counts labelled voxels cut off by a too-small depth', () => {
    const mask = masks.get('RJPD_010')!.ras.QSM;
    const shallow: RoiDefinition = { ...getMrnRoi('qsm-bg'), slices: 6 };
    const crop = cropRoi(mask, mask, shallow);
    expect(crop.image.shape[2]).toBe(6);
    const outside = countLabels(mask, shallow.labels) - countLabels(mask, shallow.labels, crop.box);
    expect(outside).toBeGreaterThan(0);
    expect(crop.report.cutLabelVoxels).toBe(outside);
    // Centred on the labelled range (with margin): 17 labelled + 2 margin = 19 slices -> 6 from the middle.
    const ref = EXTENTS['RJPD_010']!['qsm-bg']!;
    expect(crop.box.start[2]).toBe(ref.start[2]! - 1 + Math.floor((19 - 6) / 2));
  });

  it("'pad' depth keeps only labelled slices (+margin) and flags the padding invalid", () => {
    const mask = masks.get('RJPD_002')!.ras.NM;
    const roi = getMrnRoi('nm-sn'); // 5 labelled slices + 2 margin = 7 of 8
    const crop = cropRoi(mask, mask, roi, { depth: 'pad' });
    expect(crop.box.end[2] - crop.box.start[2]).toBe(7);
    expect(crop.valid.filter(Boolean)).toHaveLength(7);
    expect(crop.report.padBefore + crop.report.padAfter).toBe(1);
    const invalid = crop.valid.indexOf(false);
    const plane = crop.image.shape[0] * crop.image.shape[1];
    expect(crop.image.data.data.subarray(invalid * plane, (invalid + 1) * plane).every((v) => v === 0)).toBe(
      true,
    );
  });

  it('pads with invalid slices when the volume is shallower than roi.slices', () => {
    const v = createVolume(
      new Uint8Array(10 * 10 * 3).fill(0),
      [10, 10, 3],
      [
        [1, 0, 0, 0],
        [0, 1, 0, 0],
        [0, 0, 2, 0],
        [0, 0, 0, 1],
      ],
    );
    v.data.set(5, 5, 1, 15);
    const crop = cropRoi(v, v, getMrnRoi('qsm-dn'));
    expect(crop.image.shape[2]).toBe(8);
    expect(crop.valid).toEqual([false, false, true, true, true, false, false, false]);
    expect(crop.report.padBefore).toBe(2);
    expect(crop.report.padAfter).toBe(3);
    expect(crop.image.data.get(5 - crop.box.start[0], 5 - crop.box.start[1], 3)).toBe(15);
  });

  it("'extend' shifts the window inward at the volume's edge, keeping every slice real", () => {
    const v = createVolume(
      new Uint8Array(10 * 10 * 12),
      [10, 10, 12],
      [
        [1, 0, 0, 0],
        [0, 1, 0, 0],
        [0, 0, 2, 0],
        [0, 0, 0, 1],
      ],
    );
    v.data.set(4, 4, 11, 15); // top slice
    v.data.set(5, 4, 11, 16);
    const crop = cropRoi(v, v, getMrnRoi('qsm-dn'));
    expect([crop.box.start[2], crop.box.end[2]]).toEqual([4, 12]);
    expect(crop.valid.every(Boolean)).toBe(true);
    expect(crop.report.padBefore + crop.report.padAfter).toBe(0);
    expect(crop.mask.data.get(4 - crop.box.start[0], 4 - crop.box.start[1], 7)).toBe(1);
  });

  it('rejects an invalid ROI definition with E_CONFIG', () => {
    const mask = masks.get('RJPD_002')!.ras.QSM;
    expect(() => cropRoi(mask, mask, { ...getMrnRoi('qsm-dn'), slices: 0 })).toThrow(
      expect.objectContaining({ code: 'E_CONFIG' }),
    );
  });
});
