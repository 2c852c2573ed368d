/**
 * Resampling against scipy.ndimage.affine_transform (order 1 and 0, same mapping) and grid checks.
 * References: test/fixtures/nifti/geometry.json (make_fixtures.py geometry).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  checkSameGrid,
  createVolume,
  isMrnError,
  resampleToMatch,
  resampleToSpacing,
  sameGrid,
  voxelToWorld,
  type Affine,
} from '../../src/index.js';
import { thrownBy } from '../helpers/errors.js';

const dir = fileURLToPath(new URL('../fixtures/nifti/', import.meta.url));
interface Geometry {
  shape: [number, number, number];
  image: number[];
  labels: number[];
  to_spacing: {
    affine: Affine;
    spacing: [number, number, number];
    out_shape: number[];
    out_affine: Affine;
    linear: number[];
    nearest: number[];
  }[];
  to_match: {
    affine: Affine;
    ref_affine: Affine;
    ref_shape: number[];
    linear: number[];
    nearest: number[];
  }[];
}
const geo = JSON.parse(readFileSync(`${dir}geometry.json`, 'utf8')) as Geometry;

function expectClose(actual: ArrayLike<number>, expected: readonly number[], tol = 1e-6): void {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!) / (1 + Math.abs(expected[i]!)));
  }
  expect(worst).toBeLessThanOrEqual(tol);
}

describe('resampleToSpacing vs scipy affine_transform (mode nearest)', () => {
  for (const [n, c] of geo.to_spacing.entries()) {
    it(`case ${n}: spacing [${c.spacing}] -> shape [${c.out_shape}]`, () => {
      const img = createVolume(Float64Array.from(geo.image), geo.shape, c.affine, 'img');
      const lab = createVolume(Uint8Array.from(geo.labels), geo.shape, c.affine, 'labels');
      const lin = resampleToSpacing(img, c.spacing);
      expect(lin.shape).toEqual(c.out_shape);
      expectClose(lin.affine.flat(), c.out_affine.flat());
      expectClose(lin.spacing, c.spacing);
      expect(lin.data.data).toBeInstanceOf(Float64Array);
      expectClose(lin.data.data, c.linear);
      const near = resampleToSpacing(lab, c.spacing, { mode: 'nearest' });
      expect(near.data.data).toBeInstanceOf(Uint8Array);
      expect(Array.from(near.data.data)).toEqual(c.nearest);
      // voxel (0,0,0) keeps its world position
      expect(voxelToWorld(near, [0, 0, 0])).toEqual(voxelToWorld(lab, [0, 0, 0]));
    });
  }

  it('float32 input gives float32 output within float32 rounding', () => {
    const c = geo.to_spacing[1]!;
    const img = createVolume(Float32Array.from(geo.image), geo.shape, c.affine);
    const out = resampleToSpacing(img, c.spacing);
    expect(out.data.data).toBeInstanceOf(Float32Array);
    expectClose(out.data.data, c.linear, 1e-6);
  });

  it('rejects bad spacing and modes', () => {
    const img = createVolume(new Float32Array(8), [2, 2, 2], geo.to_spacing[0]!.affine, 'x.nii');
    for (const bad of [0, -1, NaN, [1, 1] as unknown as [number, number, number]]) {
      const e = thrownBy(() => resampleToSpacing(img, bad as number));
      expect(isMrnError(e, 'E_INVALID_ARGUMENT')).toBe(true);
      expect((e as Error).message).toContain('x.nii');
    }
    expect(
      isMrnError(
        thrownBy(() => resampleToSpacing(img, 1, { mode: 'cubic' as 'linear' })),
        'E_INVALID_ARGUMENT',
      ),
    ).toBe(true);
  });
});

describe('resampleToMatch vs scipy affine_transform (mode constant, cval 0)', () => {
  for (const [n, c] of geo.to_match.entries()) {
    it(`case ${n}: onto a rotated ${c.ref_shape.join('x')} grid`, () => {
      const ref = createVolume(
        new Uint8Array(c.ref_shape[0]! * c.ref_shape[1]! * c.ref_shape[2]!),
        c.ref_shape,
        c.ref_affine,
      );
      const img = createVolume(Float64Array.from(geo.image), geo.shape, c.affine);
      const lab = createVolume(Uint8Array.from(geo.labels), geo.shape, c.affine);
      const lin = resampleToMatch(img, ref);
      expect(lin.shape).toEqual(c.ref_shape);
      expect(lin.affine).toEqual(c.ref_affine);
      expectClose(lin.data.data, c.linear);
      expect(c.linear.filter((v) => v === 0).length).toBeGreaterThan(0); // part of the grid is outside
      const near = resampleToMatch(lab, ref, { mode: 'nearest' });
      expect(Array.from(near.data.data)).toEqual(c.nearest);
      checkSameGrid(near, ref);
    });
  }

  it('onto its own grid is the identity', () => {
    const c = geo.to_match[1]!;
    const img = createVolume(Float64Array.from(geo.image), geo.shape, c.affine);
    expectClose(resampleToMatch(img, img).data.data, geo.image, 1e-12);
  });
});

describe('grids', () => {
  const a = createVolume(new Float32Array(7 * 6 * 5), [7, 6, 5], geo.to_match[1]!.affine, 'QSM.nii.gz');

  it('checkSameGrid accepts float32 rounding, rejects shifts and shape changes with a clear error', () => {
    const rounded = createVolume(
      new Uint8Array(7 * 6 * 5),
      [7, 6, 5],
      a.affine.map((r) => r.map((v) => Math.fround(v))),
      'QSM_mask.nii.gz',
    );
    expect(() => checkSameGrid(a, rounded)).not.toThrow();
    const shifted = createVolume(
      new Uint8Array(7 * 6 * 5),
      [7, 6, 5],
      a.affine.map((r, i) => (i === 0 ? [r[0]!, r[1]!, r[2]!, r[3]! + 0.5] : r)),
      'NM.nii.gz',
    );
    const e = thrownBy(() => checkSameGrid(a, shifted));
    expect(isMrnError(e, 'E_GRID_MISMATCH')).toBe(true);
    expect((e as Error).message).toMatch(/QSM\.nii\.gz and NM\.nii\.gz .*0\.500 mm/);
    expect(sameGrid(a, shifted, 0.6)).toBe(true);
    const other = createVolume(new Uint8Array(7 * 6 * 4), [7, 6, 4], a.affine, 'NM.nii.gz');
    expect((thrownBy(() => checkSameGrid(a, other)) as Error).message).toContain('shapes differ');
  });
});
