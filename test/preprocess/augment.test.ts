import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  augmentCaseRois,
  cropRoi,
  readNifti,
  reorientToCanonical,
  roiToSlices,
  createRng,
  createRoiAugmentation,
  flipLeftRight,
  gammaIntensity,
  gaussianNoise,
  getMrnRoi,
  MrnError,
  roiClassMirror,
  roiWithSeparateSides,
  rotateScale,
  scaleShiftIntensity,
  sliceJitter,
  type RoiSample,
} from '../../src/index.js';

/** A random sample with classes 0..nClasses-1 and the last slice invalid. */
function randomSample(D: number, S: number, nClasses: number, seed = 1): RoiSample {
  const rng = createRng(seed);
  const slices = Float32Array.from({ length: D * S * S }, () => rng.next());
  const masks = Int32Array.from({ length: D * S * S }, () => rng.int(0, nClasses));
  const valid = Uint8Array.from({ length: D }, (_, z) => (z === D - 1 ? 0 : 1));
  for (let p = (D - 1) * S * S; p < D * S * S; p++) {
    slices[p] = 0;
    masks[p] = 0;
  }
  return { depth: D, size: S, slices, masks, valid };
}

const at = (s: RoiSample, z: number, r: number, c: number) => z * s.size * s.size + r * s.size + c;

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
      new URL('../fixtures/pdcad-samples/RJPD_002/QSM_mask.nii.gz', import.meta.url),
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

describe('rotateScale', () => {
  it('is the identity at 0 degrees and scale 1', () => {
    const s = randomSample(2, 8, 3);
    const r = rotateScale(s, { angleDeg: 0, scale: 1 });
    expect(r.masks).toEqual(s.masks);
    for (let p = 0; p < s.slices.length; p++) expect(r.slices[p]).toBeCloseTo(s.slices[p]!, 6);
  });

  it('rotates counter-clockwise as displayed, image and mask alike', () => {
    const s = randomSample(1, 7, 4);
    const r = rotateScale({ ...s, valid: Uint8Array.of(1) }, { angleDeg: 90, scale: 1 });
    // Counter-clockwise by 90 degrees: the top row becomes the left column (read bottom-up).
    for (let row = 0; row < 7; row++)
      for (let c = 0; c < 7; c++) {
        const src = at(s, 0, c, 6 - row);
        expect(r.masks[at(s, 0, row, c)]).toBe(s.masks[src]);
        expect(r.slices[at(s, 0, row, c)]).toBeCloseTo(s.slices[src]!, 5);
      }
  });

  it('zooms about the centre and fills outside with padValue and background', () => {
    const S = 9;
    const slices = new Float32Array(S * S);
    const masks = new Int32Array(S * S);
    for (let p = 0; p < S * S; p++) {
      slices[p] = 1;
      masks[p] = 2;
    }
    const s: RoiSample = { depth: 1, size: S, slices, masks, valid: Uint8Array.of(1) };
    const small = rotateScale(s, { angleDeg: 0, scale: 0.5, padValue: -1 });
    expect(small.slices[at(s, 0, 4, 4)]).toBe(1);
    expect(small.masks[at(s, 0, 4, 4)]).toBe(2);
    expect(small.slices[0]).toBe(-1);
    expect(small.masks[0]).toBe(0);
    expect(() => rotateScale(s, { angleDeg: 0, scale: 0 })).toThrow(MrnError);
  });
});

describe('intensity, noise and slice jitter', () => {
  it('applies scale/shift and gamma exactly, on valid slices only', () => {
    const s = randomSample(3, 4, 2);
    const a = scaleShiftIntensity(s, 1.1, -0.05);
    expect(a.slices[5]).toBeCloseTo(s.slices[5]! * 1.1 - 0.05, 6);
    expect(a.slices[at(s, 2, 1, 1)]).toBe(0); // invalid slice untouched
    expect(a.masks).toEqual(s.masks);
    const g = gammaIntensity(s, 0.8);
    expect(g.slices[7]).toBeCloseTo(Math.pow(s.slices[7]!, 0.8), 6);
    expect(() => gammaIntensity(s, 0)).toThrow(/gamma must be positive/);
    expect(s.slices[5]).toBe(randomSample(3, 4, 2).slices[5]); // inputs are not modified
  });

  it('adds seeded Gaussian noise with the requested std', () => {
    const s = randomSample(5, 32, 2);
    const n1 = gaussianNoise(s, 0.02, createRng(3));
    const n2 = gaussianNoise(s, 0.02, createRng(3));
    expect(n1.slices).toEqual(n2.slices);
    let sum = 0;
    let sum2 = 0;
    const valid = 4 * 32 * 32;
    for (let p = 0; p < valid; p++) {
      const d = n1.slices[p]! - s.slices[p]!;
      sum += d;
      sum2 += d * d;
    }
    expect(Math.abs(sum / valid)).toBeLessThan(0.002);
    expect(Math.sqrt(sum2 / valid)).toBeCloseTo(0.02, 3);
    expect(n1.slices.subarray(valid).every((v) => v === 0)).toBe(true);
    expect(() => gaussianNoise(s, -1, createRng(1))).toThrow(MrnError);
  });

  it('shifts the slice window, marking slices from outside the stack invalid', () => {
    const s = randomSample(4, 3, 2);
    const up = sliceJitter(s, 1);
    expect(up.slices.subarray(0, 9)).toEqual(s.slices.subarray(9, 18));
    expect(Array.from(up.valid)).toEqual([1, 1, 0, 0]);
    const down = sliceJitter(s, -1);
    expect(Array.from(down.valid)).toEqual([0, 1, 1, 1]);
    expect(down.masks.subarray(9, 18)).toEqual(s.masks.subarray(0, 9));
    const window = sliceJitter(s, 1, 2); // centred 2 of 4 starts at 1, shifted to 2
    expect(window.depth).toBe(2);
    expect(window.slices).toEqual(s.slices.subarray(18, 36));
    expect(() => sliceJitter(s, 0.5)).toThrow(/integers/);
  });
});

describe('createRoiAugmentation', () => {
  const roi = getMrnRoi('qsm-mb');

  it('is deterministic per seed, differs across seeds, and never modifies its input', () => {
    const s = randomSample(4, 16, roi.classes.length);
    const copy = s.slices.slice();
    const augment = createRoiAugmentation(roi);
    const a = augment(s, createRng(11));
    const b = augment(s, createRng(11));
    expect(a.sample.slices).toEqual(b.sample.slices);
    expect(a.sample.masks).toEqual(b.sample.masks);
    expect(a.applied).toEqual(b.applied);
    const outs = [12, 13, 14, 15].map((seed) => augment(s, createRng(seed)).sample.slices);
    expect(outs.some((o) => o.some((v, i) => v !== a.sample.slices[i]))).toBe(true);
    expect(s.slices).toEqual(copy);
  });

  it('draws parameters within the documented ranges and keeps masks within the classes', () => {
    const s = randomSample(4, 12, roi.classes.length);
    const augment = createRoiAugmentation(roi);
    const rng = createRng(99);
    let flips = 0;
    for (let t = 0; t < 200; t++) {
      const { sample, applied } = augment(s, rng);
      if (applied.flip) flips++;
      if (applied.angleDeg !== undefined) expect(Math.abs(applied.angleDeg)).toBeLessThanOrEqual(10);
      if (applied.scale !== undefined) expect(applied.scale).toBeGreaterThanOrEqual(0.9 - 1e-12);
      if (applied.scale !== undefined) expect(applied.scale).toBeLessThanOrEqual(1.1 + 1e-12);
      if (applied.gamma !== undefined) expect(applied.gamma).toBeGreaterThanOrEqual(0.8 - 1e-12);
      if (applied.gamma !== undefined) expect(applied.gamma).toBeLessThanOrEqual(1.25 + 1e-12);
      if (applied.sliceShift !== undefined) expect(Math.abs(applied.sliceShift)).toBe(1);
      if (applied.noiseStd !== undefined) expect(applied.noiseStd).toBeLessThanOrEqual(0.02);
      if (t < 10) expect(sample.masks.every((m) => m >= 0 && m < roi.classes.length)).toBe(true);
    }
    expect(flips).toBeGreaterThan(70);
    expect(flips).toBeLessThan(130);
  });

  it('with every probability 0 and no jitter returns an equal copy', () => {
    const s = randomSample(3, 8, roi.classes.length);
    const none = createRoiAugmentation(roi, {
      flipProbability: 0,
      rotateScaleProbability: 0,
      intensityProbability: 0,
      gammaProbability: 0,
      noiseProbability: 0,
      maxSliceShift: 0,
    });
    const { sample, applied } = none(s, createRng(1));
    expect(applied).toEqual({});
    expect(sample.slices).toEqual(s.slices);
    expect(sample.slices).not.toBe(s.slices);
  });

  it('shares one flip decision across the ROIs of a patient, and rejects bad options', () => {
    const rois = [getMrnRoi('nm-sn'), roi];
    const augs = rois.map((r) => createRoiAugmentation(r));
    const samples = rois.map((r, i) => randomSample(3, 8, r.classes.length, i + 1));
    for (let seed = 0; seed < 20; seed++) {
      const { applied } = augmentCaseRois(samples, augs, createRng(seed));
      expect(Boolean(applied[0]!.flip)).toBe(Boolean(applied[1]!.flip));
    }
    expect(() => createRoiAugmentation(roi, { flipProbability: 2 })).toThrow(/flipProbability/);
    expect(() => createRoiAugmentation(roi, { scaleRange: [1.1, 0.9] })).toThrow(/scaleRange/);
    expect(() => createRoiAugmentation(roi, { maxSliceShift: 0.5 })).toThrow(/maxSliceShift/);
  });
});
