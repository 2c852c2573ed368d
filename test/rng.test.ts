import { describe, expect, it } from 'vitest';
import { createRng, MrnError } from '../src/index.js';

describe('createRng', () => {
  it('gives the same numbers for the same seed and different ones for another seed', () => {
    const a = createRng(42);
    const b = createRng(42);
    const c = createRng(43);
    const xs = Array.from({ length: 100 }, () => a.next());
    expect(Array.from({ length: 100 }, () => b.next())).toEqual(xs);
    expect(Array.from({ length: 100 }, () => c.next())).not.toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
  });

  it('is roughly uniform and its normals have mean 0 and std 1', () => {
    const rng = createRng(7);
    const n = 20000;
    let sum = 0;
    let sumN = 0;
    let sumN2 = 0;
    for (let i = 0; i < n; i++) {
      sum += rng.next();
      const z = rng.normal();
      sumN += z;
      sumN2 += z * z;
    }
    expect(sum / n).toBeCloseTo(0.5, 1);
    expect(sumN / n).toBeCloseTo(0, 1);
    expect(Math.sqrt(sumN2 / n)).toBeCloseTo(1, 1);
  });

  it('restores exactly from a serialised state, including the spare normal and forks', () => {
    const rng = createRng(1);
    rng.next();
    rng.normal(); // leaves a spare normal cached
    rng.fork();
    const saved = JSON.parse(JSON.stringify(rng.state()));
    const restored = createRng(saved);
    expect([restored.normal(), restored.next(), restored.fork().next()]).toEqual([
      rng.normal(),
      rng.next(),
      rng.fork().next(),
    ]);
  });

  it('forks are independent of draws from the parent and differ from each other', () => {
    const a = createRng(5);
    const b = createRng(5);
    b.next();
    b.next();
    const fa = a.fork();
    const fb = b.fork();
    expect(fa.next()).toBe(fb.next());
    const f1 = createRng(9).fork();
    const r9 = createRng(9);
    r9.fork();
    const f2 = r9.fork();
    expect(f1.next()).not.toBe(f2.next());
  });

  it('int, shuffle and pick stay in range', () => {
    const rng = createRng(3);
    for (let i = 0; i < 1000; i++) {
      const v = rng.int(-2, 3);
      expect(v).toBeGreaterThanOrEqual(-2);
      expect(v).toBeLessThan(3);
    }
    const arr = [1, 2, 3, 4, 5, 6];
    expect(rng.shuffle([...arr]).sort()).toEqual(arr);
    expect(arr).toContain(rng.pick(arr));
    expect(rng.seed()).toBeGreaterThanOrEqual(0);
    expect(rng.seed()).toBeLessThan(2 ** 31);
  });

  it('rejects bad seeds with an MrnError', () => {
    expect(() => createRng(1.5)).toThrow(MrnError);
    expect(() => createRng({ s: [1, 2] } as never)).toThrow(/RngState/);
    expect(() => createRng(0).int(3, 3)).toThrow(/empty range/);
  });
});
