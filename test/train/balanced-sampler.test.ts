import { describe, expect, it } from 'vitest';
import { createRng } from '../../src/index.js';
import { classBalancedBatches } from '../../src/train/balanced-sampler.js';

describe('classBalancedBatches', () => {
  it('puts >= 2 of each class in every batch, covers every case, never repeats within a batch', () => {
    const rng = createRng(7);
    for (const [nPos, nNeg, bs] of [
      [10, 10, 8],
      [3, 17, 6],
      [25, 4, 4],
      [2, 2, 16],
      [13, 7, 5],
    ] as const) {
      const labels = [...Array(nPos).fill(1), ...Array(nNeg).fill(0)];
      rng.shuffle(labels);
      const batches = classBalancedBatches(labels, rng, { batchSize: bs });
      const seen = new Set<number>();
      for (const b of batches) {
        expect(new Set(b).size).toBe(b.length);
        expect(b.length).toBeLessThanOrEqual(bs);
        expect(b.filter((i) => labels[i] === 1).length).toBeGreaterThanOrEqual(2);
        expect(b.filter((i) => labels[i] === 0).length).toBeGreaterThanOrEqual(2);
        b.forEach((i) => seen.add(i));
      }
      expect(seen.size).toBe(labels.length);
    }
  });

  it('is deterministic for a seed and differs across seeds', () => {
    const labels = Array.from({ length: 30 }, (_, i) => i % 2);
    const a = classBalancedBatches(labels, createRng(1), { batchSize: 8 });
    const b = classBalancedBatches(labels, createRng(1), { batchSize: 8 });
    const c = classBalancedBatches(labels, createRng(2), { batchSize: 8 });
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
  });

  it('refuses a class with fewer than two cases, tiny batches and bad labels', () => {
    expect(() => classBalancedBatches([1, 0, 0, 0], createRng(1), { batchSize: 4 })).toThrow(/1 PD and 3 HC/);
    expect(() => classBalancedBatches([1, 1, 0, 0], createRng(1), { batchSize: 3 })).toThrow(/batchSize/);
    expect(() => classBalancedBatches([1, 1, 0, 2], createRng(1), { batchSize: 4 })).toThrow(/not 0 or 1/);
  });
});
