import { describe, expect, it } from 'vitest';
import { sliceJitter } from '../../../src/index.js';
import { randomSample } from '../helpers/random-roi-sample.js';

describe('intensity, noise and slice jitter', () => {
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
