/**
 * Small in-plane rotation and isotropic scaling about the canvas centre, identical for every slice of
 * the stack (a rigid-ish in-plane jitter of head position and size). Image bilinear, mask nearest,
 * outside the source: `padValue` / background. Recommended ranges: angle within +-10 degrees, scale
 * 0.9-1.1 (head pose and size vary this much after registration; larger would move nuclei out of
 * the crop's margin).
 */

import { MrnError } from '../../errors.js';
import { checkSample, type RoiSample } from './sample.js';

/** Parameters of {@link rotateScale}. */
export interface RotateScaleParams {
  /** Rotation in degrees, counter-clockwise as displayed (row 0 at the top). */
  angleDeg: number;
  /** Zoom factor: > 1 enlarges the content. */
  scale: number;
  /** Image value where the source is outside the canvas (default 0). */
  padValue?: number;
}

/**
 * Rotates and scales every slice of a sample about the canvas centre `((S-1)/2, (S-1)/2)`.
 * @throws MrnError `E_INVALID_ARGUMENT` for a non-finite angle or a non-positive scale.
 */
export function rotateScale(sample: RoiSample, params: RotateScaleParams): RoiSample {
  checkSample(sample, 'rotateScale');
  const { angleDeg, scale, padValue = 0 } = params;
  if (!Number.isFinite(angleDeg) || !(scale > 0) || !Number.isFinite(scale)) {
    throw new MrnError(
      'E_INVALID_ARGUMENT',
      `rotateScale: need a finite angle and a positive scale, got ${angleDeg}, ${scale}`,
    );
  }
  const { depth: D, size: S } = sample;
  const c0 = (S - 1) / 2;
  const t = (angleDeg * Math.PI) / 180;
  // Output pixel (x right, y up) = scale * R(t) * source; so source = R(-t) * output / scale.
  // Rows grow downward, so y = c0 - row.
  const cos = Math.cos(t) / scale;
  const sin = Math.sin(t) / scale;
  const plane = S * S;
  const srcX = new Float64Array(plane);
  const srcY = new Float64Array(plane);
  for (let r = 0; r < S; r++) {
    const y = c0 - r;
    for (let c = 0; c < S; c++) {
      const x = c - c0;
      srcX[r * S + c] = c0 + (cos * x + sin * y);
      srcY[r * S + c] = c0 - (-sin * x + cos * y); // back to row coordinates
    }
  }
  const slices = new Float32Array(sample.slices.length).fill(padValue);
  const masks = new Int32Array(sample.masks.length);
  const eps = 1e-9;
  for (let z = 0; z < D; z++) {
    const off = z * plane;
    for (let p = 0; p < plane; p++) {
      const u = srcX[p]!;
      const v = srcY[p]!;
      // Nearest for the mask (eps guards against 89.99999-degree round-off).
      const ni = Math.round(u + eps);
      const nj = Math.round(v + eps);
      if (ni >= 0 && ni < S && nj >= 0 && nj < S) masks[off + p] = sample.masks[off + nj * S + ni]!;
      if (u < -0.5 || u > S - 0.5 || v < -0.5 || v > S - 0.5) continue;
      const uc = Math.min(Math.max(u, 0), S - 1);
      const vc = Math.min(Math.max(v, 0), S - 1);
      const x0 = Math.floor(uc);
      const y0 = Math.floor(vc);
      const x1 = Math.min(x0 + 1, S - 1);
      const y1 = Math.min(y0 + 1, S - 1);
      const fx = uc - x0;
      const fy = vc - y0;
      const a = sample.slices[off + y0 * S + x0]! * (1 - fx) + sample.slices[off + y0 * S + x1]! * fx;
      const b = sample.slices[off + y1 * S + x0]! * (1 - fx) + sample.slices[off + y1 * S + x1]! * fx;
      slices[off + p] = a * (1 - fy) + b * fy;
    }
    if (!sample.valid[z]) slices.fill(padValue, off, off + plane);
  }
  return { depth: D, size: S, slices, masks, valid: sample.valid.slice() };
}
