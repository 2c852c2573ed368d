/**
 * Intensity functions: percentiles against numpy.percentile (geometry.json), z-score in a mask
 * against numpy mean/std, fixed windows, and the NaN/Inf policy (reject by default, zero-fill with a count).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  clipPercentiles,
  createVolume,
  isMrnError,
  percentiles,
  rescalePercentiles,
  rescaleWindow,
  zScore,
  type Affine,
} from '../../src/index.js';
import { thrownBy } from '../helpers/errors.js';

const dir = fileURLToPath(new URL('../fixtures/nifti/', import.meta.url));
const geo = JSON.parse(readFileSync(`${dir}geometry.json`, 'utf8')) as {
  shape: [number, number, number];
  image: number[];
  mask: number[];
  percentiles: { p: number[]; all: number[]; masked: number[] };
  zscore_masked: { mean: number; std: number };
};
const eye: Affine = [
  [1, 0, 0, 0],
  [0, 1, 0, 0],
  [0, 0, 1, 0],
  [0, 0, 0, 1],
];
const img = createVolume(Float64Array.from(geo.image), geo.shape, eye, 'QSM.nii.gz');
const mask = createVolume(Uint8Array.from(geo.mask), geo.shape, eye, 'QSM_mask.nii.gz');
const close = (a: number, b: number) => expect(Math.abs(a - b) / (1 + Math.abs(b))).toBeLessThan(1e-12);

describe('percentiles and clipping', () => {
  it('match numpy.percentile (linear), whole volume and inside a mask', () => {
    percentiles(img, geo.percentiles.p).forEach((v, i) => close(v, geo.percentiles.all[i]!));
    percentiles(img, geo.percentiles.p, { mask }).forEach((v, i) => close(v, geo.percentiles.masked[i]!));
  });

  it('clipPercentiles clips to the percentile range and keeps units; input untouched', () => {
    const before = Array.from(img.data.data);
    const { volume, range } = clipPercentiles(img, 2, 97.3);
    close(range[0], geo.percentiles.all[2]!);
    close(range[1], geo.percentiles.all[5]!);
    const out = volume.data.data;
    for (let i = 0; i < out.length; i++) {
      expect(out[i]).toBe(Math.min(range[1], Math.max(range[0], geo.image[i]!)));
    }
    expect(Array.from(img.data.data)).toEqual(before);
  });

  it('rescalePercentiles maps the range onto [0, 1]', () => {
    const { volume, range } = rescalePercentiles(img, 0.5, 99.5);
    const out = volume.data.data;
    expect(Math.min(...out)).toBe(0);
    expect(Math.max(...out)).toBeCloseTo(1, 12);
    close(
      out[7]!,
      (Math.min(range[1], Math.max(range[0], geo.image[7]!)) - range[0]) / (range[1] - range[0]),
    );
  });

  it('rejects percentiles outside [0, 100], reversed bounds and empty masks', () => {
    expect(
      isMrnError(
        thrownBy(() => percentiles(img, [101])),
        'E_INVALID_ARGUMENT',
      ),
    ).toBe(true);
    expect(
      isMrnError(
        thrownBy(() => clipPercentiles(img, 90, 10)),
        'E_INVALID_ARGUMENT',
      ),
    ).toBe(true);
    const empty = createVolume(new Uint8Array(img.data.data.length), geo.shape, eye);
    expect((thrownBy(() => percentiles(img, [50], { mask: empty })) as Error).message).toMatch(
      /selects no voxels.*QSM/,
    );
    const wrong = createVolume(new Uint8Array(8), [2, 2, 2], eye);
    expect(
      isMrnError(
        thrownBy(() => zScore(img, { mask: wrong })),
        'E_GRID_MISMATCH',
      ),
    ).toBe(true);
  });
});

describe('windows and z-scores', () => {
  it('rescaleWindow maps a fixed physical window (QSM ppb) onto [0, 1] with clipping', () => {
    const v = createVolume(Float32Array.from([-300, -100, 0, 100, 200, 500, 0, 0]), [2, 2, 2], eye);
    const out = Array.from(rescaleWindow(v, [-100, 200]).volume.data.data);
    expect(out.map((x) => Math.round(x * 1e6) / 1e6)).toEqual([
      0, 0, 0.333333, 0.666667, 1, 1, 0.333333, 0.333333,
    ]);
    expect(
      isMrnError(
        thrownBy(() => rescaleWindow(v, [1, 1])),
        'E_INVALID_ARGUMENT',
      ),
    ).toBe(true);
  });

  it('zScore inside a mask matches numpy mean/std (ddof 0) and applies to every voxel', () => {
    const { volume, mean, std } = zScore(img, { mask });
    close(mean, geo.zscore_masked.mean);
    close(std, geo.zscore_masked.std);
    close(volume.data.data[3]!, (geo.image[3]! - mean) / std);
    expect(volume.data.data).toBeInstanceOf(Float64Array);
    const f32 = zScore(createVolume(Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]), [2, 2, 2], eye)).volume;
    expect(f32.data.data).toBeInstanceOf(Float32Array);
    expect(
      isMrnError(
        thrownBy(() => zScore(createVolume(new Uint8Array(8), [2, 2, 2], eye))),
        'E_INVALID_ARGUMENT',
      ),
    ).toBe(true);
  });
});

describe('NaN/Inf policy', () => {
  const bad = createVolume(
    Float32Array.from([1, NaN, 3, Infinity, 5, -Infinity, 7, 8]),
    [2, 2, 2],
    eye,
    'QSM_009.nii.gz',
  );

  it('rejects non-finite voxels by default, naming the file and the count', () => {
    for (const fn of [
      () => zScore(bad),
      () => percentiles(bad, [50]),
      () => clipPercentiles(bad),
      () => rescaleWindow(bad, [0, 1]),
      () => rescalePercentiles(bad),
    ]) {
      const e = thrownBy(fn);
      expect(isMrnError(e, 'E_NON_FINITE')).toBe(true);
      expect((e as Error).message).toMatch(/3 of 8 voxels are NaN or Inf.*QSM_009\.nii\.gz/);
    }
  });

  it('zero-fills on request and reports how many it replaced', () => {
    const { volume, replacedNonFinite } = rescaleWindow(bad, [0, 8], { nonFinite: 'zero' });
    expect(replacedNonFinite).toBe(3);
    expect(Array.from(volume.data.data)).toEqual([0.125, 0, 0.375, 0, 0.625, 0, 0.875, 1]);
    expect(volume.nonFiniteCount).toBe(0);
    expect(bad.nonFiniteCount).toBe(3);
    expect(
      isMrnError(
        thrownBy(() => zScore(bad, { nonFinite: 'keep' as 'zero' })),
        'E_INVALID_ARGUMENT',
      ),
    ).toBe(true);
  });
});
