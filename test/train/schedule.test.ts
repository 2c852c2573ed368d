import { describe, expect, it } from 'vitest';
import { MrnError } from '../../src/index.js';
import { cosineWithWarmup } from '../../src/train/schedule.js';

describe('cosineWithWarmup', () => {
  it('warms up linearly, peaks, and decays by a half cosine to the floor', () => {
    const lr = cosineWithWarmup({ peak: 1e-3, totalSteps: 110, warmupSteps: 10, minFraction: 0.1 });
    expect(lr(0)).toBeCloseTo(1e-4, 12);
    expect(lr(4)).toBeCloseTo(5e-4, 12);
    expect(lr(9)).toBeCloseTo(1e-3, 12);
    expect(lr(10)).toBeCloseTo(1e-3, 12);
    // Half way through the decay: the mean of peak and floor.
    const mid = 10 + (100 - 1) / 2;
    expect(lr(mid)).toBeCloseTo((1e-3 + 1e-4) / 2, 12);
    expect(lr(109)).toBeCloseTo(1e-4, 12);
    expect(lr(500)).toBeCloseTo(1e-4, 12);
    for (let s = 11; s < 110; s++) expect(lr(s)).toBeLessThanOrEqual(lr(s - 1));
  });

  it('rejects inconsistent settings', () => {
    expect(() => cosineWithWarmup({ peak: 0, totalSteps: 10 })).toThrow(MrnError);
    expect(() => cosineWithWarmup({ peak: 1, totalSteps: 10, warmupSteps: 11 })).toThrow(/warmupSteps/);
    expect(() => cosineWithWarmup({ peak: 1, totalSteps: 1.5 })).toThrow(/totalSteps/);
    expect(() => cosineWithWarmup({ peak: 1, totalSteps: 5, minFraction: 2 })).toThrow(/minFraction/);
  });
});
