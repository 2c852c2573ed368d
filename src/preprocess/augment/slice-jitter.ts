/**
 * Slice-position jitter: moves the ROI's slice window up or down by a few slices, as a different
 * segmentation or registration would. Recommended: shift within +-1 slice (2 mm); the default ROI depths
 * keep one slice of margin on each side, so labelled slices stay inside.
 */

import { MrnError } from '../../errors.js';
import { checkSample, type RoiSample } from './sample.js';

/**
 * Takes `depth` slices (default: the sample's depth) starting `shift` slices from the centred window:
 * `out[z] = in[start + z]` with `start = floor((D_in - depth) / 2) + shift`. Slices that fall outside
 * the input are zero, background and invalid. Cache a deeper stack than the model uses to jitter
 * without losing slices.
 * @throws MrnError `E_INVALID_ARGUMENT` for a non-integer shift or depth.
 */
export function sliceJitter(sample: RoiSample, shift: number, depth = sample.depth): RoiSample {
  checkSample(sample, 'sliceJitter');
  if (!Number.isInteger(shift) || !Number.isInteger(depth) || depth < 1) {
    throw new MrnError(
      'E_INVALID_ARGUMENT',
      `sliceJitter: shift and depth must be integers (depth >= 1), got ${shift}, ${depth}`,
    );
  }
  const { depth: D, size: S } = sample;
  const plane = S * S;
  const start = Math.floor((D - depth) / 2) + shift;
  const slices = new Float32Array(depth * plane);
  const masks = new Int32Array(depth * plane);
  const valid = new Uint8Array(depth);
  for (let z = 0; z < depth; z++) {
    const s = start + z;
    if (s < 0 || s >= D) continue;
    slices.set(sample.slices.subarray(s * plane, (s + 1) * plane), z * plane);
    masks.set(sample.masks.subarray(s * plane, (s + 1) * plane), z * plane);
    valid[z] = sample.valid[s]!;
  }
  return { depth, size: S, slices, masks, valid };
}
