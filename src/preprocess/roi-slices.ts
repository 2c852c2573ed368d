/**
 * Turning an ROI crop into the stack of 2D axial images the slice encoder sees.
 *
 * Display convention (`docs/design.md`): after canonical RAS+ reorientation, row 0 of a slice image is the
 * most anterior voxel row (j descending) and column 0 is the patient's left (i ascending). Each slice
 * is resized so that its longest *physical* side becomes `size` pixels (so anisotropic in-plane
 * voxels keep their true aspect), image bilinear and mask nearest, with half-pixel centres as
 * PyTorch's `interpolate(..., align_corners=False)`, then centred on a `size x size` canvas.
 */

import { MrnError } from '../errors.js';
import type { RoiCrop } from './roi-crop.js';

/** Where the resized crop sits on the `size x size` canvas (to map predictions back to the crop). */
export interface SlicePlacement {
  /** First canvas row of the image. */
  top: number;
  /** First canvas column of the image. */
  left: number;
  /** Rows covered by the image. */
  height: number;
  /** Columns covered by the image. */
  width: number;
  /** Crop voxels along j (source rows) and i (source columns). */
  sourceRows: number;
  /** See `sourceRows`. */
  sourceCols: number;
}

/** An ROI as a stack of encoder-ready slices. */
export interface RoiSlices {
  /** ROI id the stack belongs to. */
  roiId: string;
  /** Number of slices D. */
  depth: number;
  /** Canvas side S. */
  size: number;
  /** Images, channels-last `[D, S, S, 1]`, row-major. */
  slices: Float32Array;
  /** Class masks `[D, S, S]` (class ids of the ROI; 0 outside the image too). */
  masks: Int32Array;
  /** Per slice: 1 for a real slice, 0 for padding beyond the volume. */
  valid: Uint8Array;
  /** Where the crop sits on the canvas. */
  placement: SlicePlacement;
}

/** Options of {@link roiToSlices}. */
export interface RoiToSlicesOptions {
  /** Canvas side S in pixels (default 224, the slice encoder's input size). */
  size?: number;
  /** Value of canvas pixels outside the resized image and of invalid slices (default 0). */
  padValue?: number;
}

/**
 * Resamples every axial slice of a crop to an `S x S` image (see the module notes for orientation
 * and resizing). The crop's image should already be intensity-normalised
 * ({@link normalizeRoiImage}); channel replication and ImageNet normalisation belong to the encoder.
 *
 * @throws MrnError `E_INVALID_ARGUMENT` for a size that is not a positive integer.
 */
export function roiToSlices(crop: RoiCrop, options: RoiToSlicesOptions = {}): RoiSlices {
  const { size: S = 224, padValue = 0 } = options;
  if (!Number.isInteger(S) || S < 1) {
    throw new MrnError('E_INVALID_ARGUMENT', `roiToSlices: size must be a positive integer, got ${S}`);
  }
  const [nx, ny, D] = crop.image.shape;
  const [sx, sy] = crop.image.spacing;
  const wMm = nx * sx;
  const hMm = ny * sy;
  const longest = Math.max(wMm, hMm);
  const width = Math.max(1, Math.min(S, Math.round((wMm / longest) * S)));
  const height = Math.max(1, Math.min(S, Math.round((hMm / longest) * S)));
  const top = Math.floor((S - height) / 2);
  const left = Math.floor((S - width) / 2);

  // Precompute the source coordinates of every output column (i) and row (j, descending).
  // Multiply before dividing: (c + 0.5) * (n / w) rounds 15 down to 14.999... for n/w = 30/11, which
  // would move a nearest-neighbour pick by a whole voxel; ((2c + 1) * n) / (2w) is exact.
  const x0 = new Int32Array(width);
  const x1 = new Int32Array(width);
  const fx = new Float32Array(width);
  const nearX = new Int32Array(width);
  for (let c = 0; c < width; c++) {
    const u = Math.max(0, ((c + 0.5) * nx) / width - 0.5);
    x0[c] = Math.min(nx - 1, Math.floor(u));
    x1[c] = Math.min(nx - 1, x0[c]! + 1);
    fx[c] = u - Math.floor(u);
    nearX[c] = Math.min(nx - 1, Math.floor(((2 * c + 1) * nx) / (2 * width)));
  }
  const y0 = new Int32Array(height);
  const y1 = new Int32Array(height);
  const fy = new Float32Array(height);
  const nearY = new Int32Array(height);
  for (let r = 0; r < height; r++) {
    // Row r counts from the most anterior voxel row: source row index v, then j = ny - 1 - v.
    const v = Math.max(0, ((r + 0.5) * ny) / height - 0.5);
    const v0 = Math.min(ny - 1, Math.floor(v));
    const v1 = Math.min(ny - 1, v0 + 1);
    y0[r] = ny - 1 - v0;
    y1[r] = ny - 1 - v1;
    fy[r] = v - Math.floor(v);
    nearY[r] = ny - 1 - Math.min(ny - 1, Math.floor(((2 * r + 1) * ny) / (2 * height)));
  }

  const plane = S * S;
  const slices = new Float32Array(D * plane).fill(padValue);
  const masks = new Int32Array(D * plane);
  const valid = new Uint8Array(D);
  const img = crop.image.data.data;
  const msk = crop.mask.data.data;
  for (let z = 0; z < D; z++) {
    valid[z] = crop.valid[z] ? 1 : 0;
    if (!valid[z]) continue;
    const zOff = z * nx * ny;
    for (let r = 0; r < height; r++) {
      const rowA = zOff + y0[r]! * nx;
      const rowB = zOff + y1[r]! * nx;
      const rowN = zOff + nearY[r]! * nx;
      const wy = fy[r]!;
      let q = z * plane + (top + r) * S + left;
      for (let c = 0; c < width; c++, q++) {
        const wx = fx[c]!;
        const a = img[rowA + x0[c]!]! * (1 - wx) + img[rowA + x1[c]!]! * wx;
        const b = img[rowB + x0[c]!]! * (1 - wx) + img[rowB + x1[c]!]! * wx;
        slices[q] = a * (1 - wy) + b * wy;
        masks[q] = msk[rowN + nearX[c]!]!;
      }
    }
  }
  return {
    roiId: crop.roi.id,
    depth: D,
    size: S,
    slices,
    masks,
    valid,
    placement: { top, left, height, width, sourceRows: ny, sourceCols: nx },
  };
}
