/**
 * Left-right flip. Mirrors every slice's columns (column 0 = patient left becomes patient right) and
 * swaps left/right classes, so that a flipped right nucleus is labelled as a left one. With the default
 * ROIs (left and right merged into one class) the class ids stay; with {@link roiWithSeparateSides}
 * they swap. Anatomically a flip turns a subject into a plausible mirror-image subject; PD's asymmetry
 * has no fixed side, so the label (PD/HC) is unchanged.
 */

import { MrnError } from '../../errors.js';
import { checkSample, type RoiSample } from './sample.js';

/**
 * Flips a sample left-right.
 * @param classMirror for each class id, its mirror class ({@link roiClassMirror}).
 * @throws MrnError `E_INVALID_ARGUMENT` when the sample holds a class id `classMirror` does not cover.
 */
export function flipLeftRight(sample: RoiSample, classMirror: Int32Array | readonly number[]): RoiSample {
  checkSample(sample, 'flipLeftRight');
  const { depth: D, size: S } = sample;
  const slices = new Float32Array(sample.slices.length);
  const masks = new Int32Array(sample.masks.length);
  const nClasses = classMirror.length;
  for (let row = 0; row < D * S; row++) {
    const base = row * S;
    for (let c = 0; c < S; c++) {
      const src = base + S - 1 - c;
      slices[base + c] = sample.slices[src]!;
      const m = sample.masks[src]!;
      if (m < 0 || m >= nClasses) {
        throw new MrnError(
          'E_INVALID_ARGUMENT',
          `flipLeftRight: class ${m} is not in the mirror table (${nClasses} classes)`,
        );
      }
      masks[base + c] = classMirror[m]!;
    }
  }
  return { depth: D, size: S, slices, masks, valid: sample.valid.slice() };
}
