/**
 * The unit augmentation works on: one ROI's slice stack as produced by {@link roiToSlices} (or read
 * back from the ROI cache). Every augmentation is a pure function `RoiSample -> RoiSample`: the input
 * is never modified.
 */

import { MrnError } from '../../errors.js';
import type { RoiSlices } from '../roi-slices.js';

/** One ROI's slices: images `[D, S, S, 1]`, class masks `[D, S, S]`, per-slice validity `[D]`. */
export type RoiSample = Pick<RoiSlices, 'depth' | 'size' | 'slices' | 'masks' | 'valid'>;

/** A deep copy of the sample's arrays (shape fields copied). */
export function cloneSample(sample: RoiSample): RoiSample {
  return {
    depth: sample.depth,
    size: sample.size,
    slices: sample.slices.slice(),
    masks: sample.masks.slice(),
    valid: sample.valid.slice(),
  };
}

/** Checks that the arrays match `depth` and `size`. @throws MrnError `E_INVALID_ARGUMENT`. */
export function checkSample(sample: RoiSample, fn: string): void {
  const { depth: D, size: S } = sample ?? {};
  if (!Number.isInteger(D) || !Number.isInteger(S) || D < 1 || S < 1) {
    throw new MrnError(
      'E_INVALID_ARGUMENT',
      `${fn}: sample needs positive integer depth and size, got ${D} and ${S}`,
    );
  }
  if (
    sample.slices?.length !== D * S * S ||
    sample.masks?.length !== D * S * S ||
    sample.valid?.length !== D
  ) {
    throw new MrnError(
      'E_INVALID_ARGUMENT',
      `${fn}: sample arrays do not match [D=${D}, S=${S}] (slices ${sample.slices?.length}, masks ${sample.masks?.length}, valid ${sample.valid?.length})`,
    );
  }
}
