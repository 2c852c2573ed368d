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
  const plan = planeSampling(S, angleDeg, scale);
  const plane = S * S;
  const slices = new Float32Array(sample.slices.length).fill(padValue);
  const masks = new Int32Array(sample.masks.length);
  for (let z = 0; z < D; z++) {
    const off = z * plane;
    for (let p = 0; p < plane; p++) {
      const n = plan.nearest[p]!;
      if (n >= 0) masks[off + p] = sample.masks[off + n]!;
    }
    // Padding slices stay padValue (the interpolated values would be overwritten).
    if (!sample.valid[z]) continue;
    for (let p = 0; p < plane; p++) {
      const i00 = plan.topLeft[p]!;
      if (i00 < 0) continue;
      const dx = plan.dx[p]!;
      const dy = plan.dy[p]!;
      const fx = plan.fx[p]!;
      const fy = plan.fy[p]!;
      const a = sample.slices[off + i00]! * (1 - fx) + sample.slices[off + i00 + dx]! * fx;
      const b = sample.slices[off + i00 + dy]! * (1 - fx) + sample.slices[off + i00 + dy + dx]! * fx;
      slices[off + p] = a * (1 - fy) + b * fy;
    }
  }
  return { depth: D, size: S, slices, masks, valid: sample.valid.slice() };
}

/**
 * Where each output pixel of an `S x S` plane samples its source, the same for every slice, so it is
 * computed once per stack: the nearest source pixel for masks (-1 outside), and for images the
 * top-left bilinear corner (-1 outside the half-pixel border), the steps to the right and lower
 * corners (0 at the last column/row, whose corner is clamped) and the weights.
 */
interface PlaneSampling {
  nearest: Int32Array;
  topLeft: Int32Array;
  dx: Uint8Array;
  dy: Int32Array;
  fx: Float64Array;
  fy: Float64Array;
}

/** The {@link PlaneSampling} of a rotation by `angleDeg` and zoom `scale` about the canvas centre. */
function planeSampling(S: number, angleDeg: number, scale: number): PlaneSampling {
  const c0 = (S - 1) / 2;
  const t = (angleDeg * Math.PI) / 180;
  // Output pixel (x right, y up) = scale * R(t) * source; so source = R(-t) * output / scale.
  // Rows grow downward, so y = c0 - row.
  const cos = Math.cos(t) / scale;
  const sin = Math.sin(t) / scale;
  const plane = S * S;
  const out: PlaneSampling = {
    nearest: new Int32Array(plane).fill(-1),
    topLeft: new Int32Array(plane).fill(-1),
    dx: new Uint8Array(plane),
    dy: new Int32Array(plane),
    fx: new Float64Array(plane),
    fy: new Float64Array(plane),
  };
  const eps = 1e-9;
  for (let r = 0; r < S; r++) {
    const y = c0 - r;
    for (let c = 0; c < S; c++) {
      const x = c - c0;
      const p = r * S + c;
      const u = c0 + (cos * x + sin * y);
      const v = c0 - (-sin * x + cos * y); // back to row coordinates
      // Nearest for the mask (eps guards against 89.99999-degree round-off).
      const ni = Math.round(u + eps);
      const nj = Math.round(v + eps);
      if (ni >= 0 && ni < S && nj >= 0 && nj < S) out.nearest[p] = nj * S + ni;
      if (u < -0.5 || u > S - 0.5 || v < -0.5 || v > S - 0.5) continue;
      const uc = Math.min(Math.max(u, 0), S - 1);
      const vc = Math.min(Math.max(v, 0), S - 1);
      const x0 = Math.floor(uc);
      const y0 = Math.floor(vc);
      out.topLeft[p] = y0 * S + x0;
      out.dx[p] = Math.min(x0 + 1, S - 1) - x0;
      out.dy[p] = (Math.min(y0 + 1, S - 1) - y0) * S;
      out.fx[p] = uc - x0;
      out.fy[p] = vc - y0;
    }
  }
  return out;
}
