import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  createVolume,
  getMrnRoi,
  MrnError,
  roiToSlices,
  type Affine,
  type RoiCrop,
  type Volume,
} from '../../src/index.js';

const REF = JSON.parse(
  readFileSync(new URL('../fixtures/roi-slices/resize-reference.json', import.meta.url), 'utf8'),
) as {
  cases: {
    rows: number;
    cols: number;
    outH: number;
    outW: number;
    image: number[];
    labels: number[];
    resized: number[];
    resizedLabels: number[];
  }[];
};

function affine(sx: number, sy: number, sz: number): Affine {
  return [
    [sx, 0, 0, 0],
    [0, sy, 0, 0],
    [0, 0, sz, 0],
    [0, 0, 0, 1],
  ];
}

function fakeCrop(image: Volume<Float32Array>, mask: Volume<Int32Array>, valid?: boolean[]): RoiCrop {
  return {
    roi: getMrnRoi('qsm-bg'),
    image,
    mask,
    box: { start: [0, 0, 0], end: [...image.shape], world: { first: [0, 0, 0], last: [0, 0, 0] } },
    valid: valid ?? new Array(image.shape[2]).fill(true),
    report: {
      missingLabels: [],
      fallbacks: [],
      cutLabelVoxels: 0,
      padBefore: 0,
      padAfter: 0,
      clippedInPlane: false,
      labelVoxels: {},
    },
  };
}

describe('roiToSlices', () => {
  it('shows row 0 = most anterior (j descending) and column 0 = patient left (i ascending)', () => {
    const [nx, ny, nz] = [4, 3, 2];
    const values = new Float32Array(nx * ny * nz);
    const labels = new Int32Array(nx * ny * nz);
    for (let k = 0; k < nz; k++)
      for (let j = 0; j < ny; j++)
        for (let i = 0; i < nx; i++) {
          values[i + nx * (j + ny * k)] = i + 10 * j + 100 * k;
          labels[i + nx * (j + ny * k)] = i === 0 && j === ny - 1 ? 1 : 0; // left-anterior corner
        }
    const crop = fakeCrop(
      createVolume(values, [nx, ny, nz], affine(1, 1, 2)),
      createVolume(labels, [nx, ny, nz], affine(1, 1, 2)),
    );
    const out = roiToSlices(crop, { size: 4 });
    expect(out.placement).toEqual({ top: 0, left: 0, height: 3, width: 4, sourceRows: 3, sourceCols: 4 });
    const row = (z: number, r: number) => Array.from(out.slices.subarray(z * 16 + r * 4, z * 16 + r * 4 + 4));
    expect(row(0, 0)).toEqual([20, 21, 22, 23]);
    expect(row(0, 2)).toEqual([0, 1, 2, 3]);
    expect(row(1, 0)).toEqual([120, 121, 122, 123]);
    expect(row(0, 3)).toEqual([0, 0, 0, 0]); // padding row
    expect(out.masks[0]).toBe(1); // row 0, column 0: left-anterior
    expect(out.masks.reduce((a, b) => a + b, 0)).toBe(2); // once per slice
    expect(Array.from(out.valid)).toEqual([1, 1]);
    expect(out.slices).toHaveLength(2 * 4 * 4); // [D, S, S, 1]
  });

  it('resizes like PyTorch (bilinear align_corners=False, nearest-exact for masks)', () => {
    for (const c of REF.cases) {
      // Display row r is j = rows - 1 - r.
      const values = new Float32Array(c.rows * c.cols);
      const labels = new Int32Array(c.rows * c.cols);
      for (let r = 0; r < c.rows; r++)
        for (let col = 0; col < c.cols; col++) {
          values[col + c.cols * (c.rows - 1 - r)] = c.image[r * c.cols + col]!;
          labels[col + c.cols * (c.rows - 1 - r)] = c.labels[r * c.cols + col]!;
        }
      const S = Math.max(c.outH, c.outW);
      const crop = fakeCrop(
        createVolume(values, [c.cols, c.rows, 1], affine(0.7, 0.7, 2)),
        createVolume(labels, [c.cols, c.rows, 1], affine(0.7, 0.7, 2)),
      );
      const out = roiToSlices(crop, { size: S, padValue: -9 });
      const { top, left, height, width } = out.placement;
      expect([height, width]).toEqual([c.outH, c.outW]);
      let maxErr = 0;
      let wrongLabels = 0;
      for (let r = 0; r < height; r++)
        for (let col = 0; col < width; col++) {
          const q = (top + r) * S + left + col;
          maxErr = Math.max(maxErr, Math.abs(out.slices[q]! - c.resized[r * width + col]!));
          if (out.masks[q] !== c.resizedLabels[r * width + col]) wrongLabels++;
        }
      expect(maxErr).toBeLessThan(1e-5);
      expect(wrongLabels).toBe(0);
      // Canvas outside the image holds padValue.
      if (top > 0) expect(out.slices[0]).toBe(-9);
      if (left > 0) expect(out.slices[top * S]).toBe(-9);
    }
  });

  it('keeps physical aspect for anisotropic in-plane voxels and leaves invalid slices at padValue', () => {
    const vol = createVolume(new Float32Array(10 * 10 * 3).fill(1), [10, 10, 3], affine(1, 0.5, 2));
    const mask = createVolume(new Int32Array(10 * 10 * 3).fill(1), [10, 10, 3], affine(1, 0.5, 2));
    const out = roiToSlices(fakeCrop(vol, mask, [true, false, true]), { size: 20 });
    expect([out.placement.height, out.placement.width]).toEqual([10, 20]); // 10 mm wide, 5 mm tall
    expect(Array.from(out.valid)).toEqual([1, 0, 1]);
    const plane = 400;
    expect(out.slices.subarray(plane, 2 * plane).every((v) => v === 0)).toBe(true);
    expect(out.masks.subarray(plane, 2 * plane).every((v) => v === 0)).toBe(true);
    expect(out.masks.subarray(0, plane).reduce((a, b) => a + b, 0)).toBe(200);
    expect(() => roiToSlices(fakeCrop(vol, mask), { size: 0 })).toThrow(MrnError);
  });
});
