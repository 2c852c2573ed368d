import { describe, expect, it } from 'vitest';
import {
  createRng,
  gammaIntensity,
  gaussianNoise,
  MrnError,
  scaleShiftIntensity,
} from '../../../src/index.js';
import { at, randomSample } from '../helpers/random-roi-sample.js';

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
});
