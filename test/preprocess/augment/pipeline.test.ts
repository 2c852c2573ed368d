import { describe, expect, it } from 'vitest';
import { augmentCaseRois, createRng, createRoiAugmentation, getMrnRoi } from '../../../src/index.js';
import { randomSample } from '../helpers/random-roi-sample.js';

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
