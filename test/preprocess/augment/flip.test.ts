import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  cropRoi,
  readNifti,
  reorientToCanonical,
  roiToSlices,
  flipLeftRight,
  getMrnRoi,
  roiClassMirror,
  roiWithSeparateSides,
  type RoiSample,
} from '../../../src/index.js';
import { at, randomSample } from '../helpers/random-roi-sample.js';

describe('flipLeftRight', () => {
  it('mirrors columns, and flip-flip is the identity', () => {
    const roi = getMrnRoi('qsm-bg');
    const s = randomSample(3, 9, roi.classes.length);
    const f = flipLeftRight(s, roiClassMirror(roi));
    for (const [z, r, c] of [
      [0, 0, 0],
      [1, 4, 2],
      [0, 8, 8],
    ] as const) {
      expect(f.slices[at(s, z, r, c)]).toBe(s.slices[at(s, z, r, 8 - c)]);
      expect(f.masks[at(s, z, r, c)]).toBe(s.masks[at(s, z, r, 8 - c)]); // merged classes keep their id
    }
    const ff = flipLeftRight(f, roiClassMirror(roi));
    expect(ff.slices).toEqual(s.slices);
    expect(ff.masks).toEqual(s.masks);
    expect(ff.valid).toEqual(s.valid);
  });

  it('swaps left and right classes when the ROI keeps them apart', () => {
    const roi = roiWithSeparateSides(getMrnRoi('qsm-mb')); // bg, STN-R, STN-L, SN-R, SN-L, RN-R, RN-L
    const s = randomSample(2, 6, roi.classes.length, 5);
    const f = flipLeftRight(s, roiClassMirror(roi));
    const swap = [0, 2, 1, 4, 3, 6, 5];
    for (let z = 0; z < 2; z++)
      for (let r = 0; r < 6; r++)
        for (let c = 0; c < 6; c++) expect(f.masks[at(s, z, r, c)]).toBe(swap[s.masks[at(s, z, r, 5 - c)]!]);
    expect(flipLeftRight(f, roiClassMirror(roi)).masks).toEqual(s.masks);
    expect(() => flipLeftRight(s, [0, 1])).toThrow(/class \d is not in the mirror table/);
  });
});

describe('flip on a real crop', () => {
  it('moves right nuclei to the left half and relabels them as left', async () => {
    const path = fileURLToPath(
      new URL('../../fixtures/pdcad-samples/RJPD_002/QSM_mask.nii.gz', import.meta.url),
    );
    const mask = reorientToCanonical(await readNifti(path));
    const roi = roiWithSeparateSides(getMrnRoi('qsm-mb'));
    const sample = roiToSlices(cropRoi(mask, mask, roi), { size: 64 });
    const flipped = flipLeftRight(sample, roiClassMirror(roi));
    // Mean column of a class over the stack.
    const meanCol = (s: RoiSample, cls: number) => {
      let n = 0;
      let sum = 0;
      for (let p = 0; p < s.masks.length; p++)
        if (s.masks[p] === cls) {
          n++;
          sum += p % s.size;
        }
      return sum / n;
    };
    const snR = roi.classes.findIndex((c) => c.name === 'SN-R');
    const snL = roi.classes.findIndex((c) => c.name === 'SN-L');
    // Column 0 = patient left, so the right SN sits in the right half before the flip.
    expect(meanCol(sample, snR)).toBeGreaterThan(32);
    expect(meanCol(sample, snL)).toBeLessThan(32);
    expect(meanCol(flipped, snL)).toBeCloseTo(63 - meanCol(sample, snR), 6);
    expect(meanCol(flipped, snR)).toBeCloseTo(63 - meanCol(sample, snL), 6);
    const back = flipLeftRight(flipped, roiClassMirror(roi));
    expect(back.masks).toEqual(sample.masks);
    expect(back.slices).toEqual(sample.slices);
  });
});
