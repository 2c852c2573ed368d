/**
 * The real challenge masks in test/fixtures/pdcad-samples read with the labels, voxel counts, affine and
 * orientation nibabel reports (numbers below printed by nibabel 5.0), and survive a write/read round trip.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { orientation, readNifti, reorientToCanonical, writeNifti } from '../../src/index.js';

const samples = fileURLToPath(new URL('../fixtures/pdcad-samples/', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'mrn-nifti-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function labelCounts(values: ArrayLike<number>): Record<number, number> {
  const counts: Record<number, number> = {};
  for (let i = 0; i < values.length; i++) counts[values[i]!] = (counts[values[i]!] ?? 0) + 1;
  return counts;
}

// nibabel: np.unique(np.asarray(nib.load(f).dataobj), return_counts=True)
const QSM_002 = {
  0: 6270294,
  1: 3125,
  2: 2831,
  3: 4071,
  4: 4350,
  5: 1698,
  6: 2181,
  7: 4871,
  8: 4052,
  9: 78,
  10: 90,
  11: 383,
  12: 378,
  13: 144,
  14: 144,
  15: 632,
  16: 678,
};
const NM_002 = { 0: 6299257, 1: 403, 2: 340 };
const F32_2_3 = Math.fround(2 / 3);
/** The files store -0 in off-diagonal srow entries; compare values, not the sign of zero. */
const noNegZero = (a: number[][]) => a.map((r) => r.map((x) => x + 0));

interface SampleRef {
  shape: number[];
  dtype: string;
  affine: number[][];
  axcodes: string;
  canonical_affine: number[][];
  labels: Record<string, { count: number; centroid: number[]; canonical_centroid: number[] }>;
}
// nibabel's view of every real mask (make_fixtures.py samples)
const sampleRefs = (
  JSON.parse(
    readFileSync(fileURLToPath(new URL('../fixtures/nifti/pdcad-samples.json', import.meta.url)), 'utf8'),
  ) as { files: Record<string, SampleRef> }
).files;

/** Per label: voxel count and mean voxel index. */
function labelStats(v: { data: { data: ArrayLike<number> }; shape: number[] }) {
  const [nx, ny] = v.shape as [number, number];
  const acc = new Map<number, number[]>();
  const values = v.data.data;
  for (let o = 0; o < values.length; o++) {
    const lab = values[o]!;
    let a = acc.get(lab);
    if (!a) acc.set(lab, (a = [0, 0, 0, 0]));
    a[0]! += 1;
    a[1]! += o % nx;
    a[2]! += Math.floor(o / nx) % ny;
    a[3]! += Math.floor(o / (nx * ny));
  }
  return new Map(
    [...acc].map(([k, a]) => [k, { count: a[0]!, centroid: [a[1]! / a[0]!, a[2]! / a[0]!, a[3]! / a[0]!] }]),
  );
}

describe('all real masks agree with nibabel', () => {
  const names = Object.keys(sampleRefs);
  it('covers the five cases, QSM and NM masks', () => {
    expect(names.length).toBe(10);
  });
  for (const file of names) {
    it(file, async () => {
      const ref = sampleRefs[file]!;
      const v = await readNifti(join(samples, file));
      expect(v.shape).toEqual(ref.shape);
      expect(v.data.data).toBeInstanceOf(Uint8Array);
      expect(noNegZero(v.affine)).toEqual(noNegZero(ref.affine));
      expect(orientation(v)).toBe(ref.axcodes);
      const c = reorientToCanonical(v);
      expect(noNegZero(c.affine)).toEqual(noNegZero(ref.canonical_affine));
      const stats = labelStats(v);
      const cstats = labelStats(c);
      expect([...stats.keys()].sort((a, b) => a - b)).toEqual(Object.keys(ref.labels).map(Number));
      for (const [lab, r] of Object.entries(ref.labels)) {
        const s = stats.get(Number(lab))!;
        const cs = cstats.get(Number(lab))!;
        expect(s.count).toBe(r.count);
        expect(cs.count).toBe(r.count);
        s.centroid.forEach((x, i) => expect(x).toBeCloseTo(r.centroid[i]!, 9));
        cs.centroid.forEach((x, i) => expect(x).toBeCloseTo(r.canonical_centroid[i]!, 9));
      }
    });
  }
});

describe('real PDCAD masks', () => {
  it('reads RJPD_002 QSM_mask with nibabel labels, counts, affine and LAS orientation', async () => {
    const v = await readNifti(join(samples, 'RJPD_002/QSM_mask.nii.gz'));
    expect(v.shape).toEqual([300, 300, 70]);
    expect(v.data.data).toBeInstanceOf(Uint8Array);
    expect(v.data.stride).toEqual([1, 300, 90000]);
    expect(labelCounts(v.data.data)).toEqual(QSM_002);
    expect(noNegZero(v.affine)).toEqual([
      [-F32_2_3, 0, 0, 0],
      [0, F32_2_3, 0, 0],
      [0, 0, 2, 0],
      [0, 0, 0, 1],
    ]);
    expect(v.spacing).toEqual([F32_2_3, F32_2_3, 2]);
    expect(orientation(v)).toBe('LAS');
    expect(v.nonFiniteCount).toBe(0);
  });

  it('reads RJPD_002 NM_mask', async () => {
    const v = await readNifti(join(samples, 'RJPD_002/NM_mask.nii.gz'));
    expect(labelCounts(v.data.data)).toEqual(NM_002);
  });

  it('reorients to RAS+ by flipping i, keeping counts and world positions', async () => {
    const v = await readNifti(join(samples, 'RJPD_002/QSM_mask.nii.gz'));
    const c = reorientToCanonical(v);
    expect(orientation(c)).toBe('RAS');
    expect(c.data.data).toBeInstanceOf(Uint8Array);
    expect(labelCounts(c.data.data)).toEqual(QSM_002);
    // nibabel as_closest_canonical: x column flipped, origin moved to the old last column
    expect(noNegZero(c.affine)[0]).toEqual([F32_2_3, 0, 0, -299 * F32_2_3]);
    expect(c.data.get(0, 10, 20)).toBe(v.data.get(299, 10, 20));
    expect(c.data.get(123, 45, 33)).toBe(v.data.get(299 - 123, 45, 33));
  });

  it('views an uncompressed file without copying the voxels', async () => {
    const v = await readNifti(join(samples, 'RJPD_002/NM_mask.nii.gz'));
    const path = join(tmp, 'nm.nii');
    await writeNifti(v, path);
    const back = await readNifti(path);
    expect(back.data.data.byteOffset).toBe(352); // a view into the file's bytes, past the header
    expect(back.data.data.buffer.byteLength).toBeGreaterThanOrEqual(352 + 300 * 300 * 70);
    expect(labelCounts(back.data.data)).toEqual(NM_002);
  });

  it('writes a mask that reads back identical (gzip from the suffix)', async () => {
    const v = await readNifti(join(samples, 'RJPD_005/QSM_mask.nii.gz'));
    const path = join(tmp, 'mask.nii.gz');
    await writeNifti(v, path);
    const back = await readNifti(path);
    expect(back.data.data).toBeInstanceOf(Uint8Array);
    expect(back.affine).toEqual(v.affine);
    expect(
      Buffer.from(back.data.data.buffer, back.data.data.byteOffset, back.data.data.byteLength).equals(
        Buffer.from(v.data.data.buffer, v.data.data.byteOffset, v.data.data.byteLength),
      ),
    ).toBe(true);
  });
});
