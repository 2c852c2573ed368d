import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  createVolume,
  guessQsmUnit,
  nmReference,
  normalizeNm,
  normalizePercentile,
  normalizeQsm,
  QSM_WINDOW_PPB,
  readNifti,
  reorientToCanonical,
  type Affine,
} from '../../src/index.js';

const SAMPLES = fileURLToPath(new URL('../fixtures/pdcad-samples/', import.meta.url));
const RAS: Affine = [
  [0.667, 0, 0, 0],
  [0, 0.667, 0, 0],
  [0, 0, 2, 0],
  [0, 0, 0, 1],
];

describe('QSM normalisation', () => {
  it('maps the fixed ppb window to [0, 1] and keeps the PD-HC difference that percentiles erase', () => {
    // Two midbrain crops: background 0 ppb, SN at 150 ppb (HC) or 180 ppb (PD).
    const crop = (sn: number) => {
      const v = new Float32Array(1000);
      for (let p = 0; p < 100; p++) v[p] = sn;
      return createVolume(v, [10, 10, 10], RAS);
    };
    const [lo, hi] = QSM_WINDOW_PPB;
    const hc = normalizeQsm(crop(150)).data.data;
    const pd = normalizeQsm(crop(180)).data.data;
    expect(hc[0]).toBeCloseTo((150 - lo) / (hi - lo), 6);
    expect(pd[0]! - hc[0]!).toBeCloseTo(30 / (hi - lo), 6);
    expect(hc[500]).toBeCloseTo(-lo / (hi - lo), 6);
    // Per-ROI percentiles divide the iron out: both SNs land on the same value.
    expect(normalizePercentile(crop(150)).data.data[0]).toBe(normalizePercentile(crop(180)).data.data[0]);
  });

  it('clips outside the window, converts ppm, and maps non-finite voxels to 0 ppb', () => {
    const v = createVolume(new Float32Array([-1000, 1000, 0.15, NaN]), [4, 1, 1], RAS);
    const ppb = normalizeQsm(v, { windowPpb: [-100, 300] }).data.data;
    expect(Array.from(ppb.subarray(0, 2))).toEqual([0, 1]);
    expect(ppb[3]).toBeCloseTo(0.25, 6);
    expect(normalizeQsm(v, { windowPpb: [-100, 300], unit: 'ppm' }).data.data[2]).toBeCloseTo(250 / 400, 6);
    expect(() => normalizeQsm(v, { windowPpb: [3, 3] })).toThrow(/low < high/);
    expect(() => normalizeQsm(v, { unit: 'ppt' as never })).toThrow(/unit/);
  });

  it('guesses ppm vs ppb from deep grey matter values', () => {
    const mask = createVolume(new Uint8Array([11, 11, 12, 0]), [4, 1, 1], RAS);
    expect(guessQsmUnit(createVolume(new Float32Array([0.12, 0.2, 0.15, 3]), [4, 1, 1], RAS), mask)).toBe(
      'ppm',
    );
    expect(guessQsmUnit(createVolume(new Float32Array([120, 200, 150, 3]), [4, 1, 1], RAS), mask)).toBe(
      'ppb',
    );
    expect(
      guessQsmUnit(
        createVolume(new Float32Array(4), [4, 1, 1], RAS),
        createVolume(new Uint8Array(4), [4, 1, 1], RAS),
      ),
    ).toBe(undefined);
  });
});

describe('NM normalisation', () => {
  /** SN blobs with a crus cerebri (100) anterolateral, CSF (20) anteromedial, tegmentum (80) behind. */
  function phantom() {
    const [nx, ny, nz] = [60, 60, 10];
    const img = new Float32Array(nx * ny * nz).fill(60);
    const lab = new Uint8Array(nx * ny * nz);
    const blobs = [
      { label: 1, i0: 36, i1: 42, dir: 1 }, // right SN: lateral = +i
      { label: 2, i0: 17, i1: 23, dir: -1 },
    ];
    for (let k = 3; k <= 6; k++) {
      for (const b of blobs) {
        const ci = (b.i0 + b.i1 - 1) / 2;
        for (let j = 20; j < 45; j++)
          for (let i = b.i0 - 12; i < b.i1 + 12; i++) {
            const p = i + nx * (j + ny * k);
            const inSn = i >= b.i0 && i < b.i1 && j >= 28 && j < 32;
            if (inSn) {
              lab[p] = b.label;
              img[p] = 130;
            } else if (j > 29.5) img[p] = (i - ci) * b.dir >= 0 ? 100 : 20;
            else img[p] = 80;
          }
      }
    }
    return { image: createVolume(img, [nx, ny, nz], RAS), mask: createVolume(lab, [nx, ny, nz], RAS) };
  }

  it('finds the crus cerebri anterolateral to the SN, avoiding CSF and tegmentum', () => {
    const { image, mask } = phantom();
    const ref = nmReference(image, mask);
    expect(ref.method).toBe('crus-cerebri');
    expect(ref.value).toBe(100);
    expect(ref.voxels).toBeGreaterThan(100);
    const nm = normalizeNm(image, ref.value, { window: [0.5, 1.5] });
    // SN voxel: ratio 1.3 -> 0.8; crus: 1 -> 0.5.
    expect(nm.data.get(38, 30, 4)).toBeCloseTo(0.8, 6);
    expect(nm.data.get(45, 35, 4)).toBeCloseTo(0.5, 6);
  });

  it('uses the whole ring when the anterolateral band is too small, and rejects bad input', () => {
    const { image, mask } = phantom();
    expect(nmReference(image, mask, { minVoxels: 1e6 }).method).toBe('ring');
    const empty = createVolume(
      new Uint8Array(mask.data.data.length),
      mask.shape,
      mask.affine,
      'NM_mask.nii.gz',
    );
    expect(() => nmReference(image, empty)).toThrow(expect.objectContaining({ code: 'E_LABEL_MISSING' }));
    const dark = createVolume(new Float32Array(image.data.data.length), image.shape, image.affine);
    expect(() => nmReference(dark, mask)).toThrow(expect.objectContaining({ code: 'E_NON_FINITE' }));
    expect(() => normalizeNm(image, 0)).toThrow(/positive/);
  });

  it('finds a reference band on every real NM mask', async () => {
    for (const c of ['RJPD_002', 'RJPD_010']) {
      const mask = reorientToCanonical(await readNifti(`${SAMPLES}${c}/NM_mask.nii.gz`));
      // Image = 1 + distance-free marker: band voxels must be unlabelled, anterior of the SN.
      const ones = createVolume(new Float32Array(mask.data.data.length).fill(1), mask.shape, mask.affine);
      const ref = nmReference(ones, mask);
      expect(ref.method).toBe('crus-cerebri');
      expect(ref.value).toBe(1);
      expect(ref.voxels).toBeGreaterThan(50);
    }
  });
});
