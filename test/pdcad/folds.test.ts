import { describe, expect, it } from 'vitest';
import { MrnError, stratifiedKFold, stratifiedSplit } from '../../src/index.js';

function cohort(nPd: number, nHc: number) {
  const cases: { id: string; label: number }[] = [];
  for (let i = 0; i < nPd; i++) cases.push({ id: `PD_${i}`, label: 1 });
  for (let i = 0; i < nHc; i++) cases.push({ id: `HC_${i}`, label: 0 });
  return cases;
}

describe('stratifiedKFold', () => {
  it('puts every case in exactly one test fold, with class counts within one case per fold', () => {
    for (const [nPd, nHc, k] of [
      [100, 100, 5],
      [23, 17, 4],
      [7, 3, 3],
      [11, 13, 10],
    ] as const) {
      const cases = cohort(nPd, nHc);
      const folds = stratifiedKFold(cases, k, 42);
      expect(folds).toHaveLength(k);
      const seen = new Map<string, number>();
      for (const f of folds) {
        for (const c of f.test) seen.set(c.id, (seen.get(c.id) ?? 0) + 1);
        // train is exactly the complement of test
        expect(f.train.length + f.test.length).toBe(cases.length);
        const testIds = new Set(f.test.map((c) => c.id));
        expect(f.train.some((c) => testIds.has(c.id))).toBe(false);
      }
      expect(seen.size).toBe(cases.length);
      expect([...seen.values()].every((n) => n === 1)).toBe(true);
      for (const label of [0, 1]) {
        const counts = folds.map((f) => f.test.filter((c) => c.label === label).length);
        expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
      }
      const sizes = folds.map((f) => f.test.length);
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    }
  });

  it('is deterministic per seed and differs across seeds', () => {
    const cases = cohort(30, 30);
    const ids = (seed: number) => stratifiedKFold(cases, 5, seed).map((f) => f.test.map((c) => c.id));
    expect(ids(1)).toEqual(ids(1));
    expect(ids(1)).not.toEqual(ids(2));
  });

  it('does not depend on the order of the classes in the input', () => {
    const a = cohort(10, 10);
    const b = [...a.filter((c) => c.label === 0), ...a.filter((c) => c.label === 1)];
    const sets = (cs: typeof a) =>
      stratifiedKFold(cs, 4, 3).map((f) =>
        f.test
          .map((c) => c.id)
          .sort()
          .join(','),
      );
    expect(sets(b)).toEqual(sets(a));
  });

  it('rejects bad k and unlabelled cases with clear errors', () => {
    const cases = cohort(5, 5);
    expect(() => stratifiedKFold(cases, 1, 0)).toThrow(MrnError);
    expect(() => stratifiedKFold(cases, 11, 0)).toThrow(/k must be an integer/);
    expect(() => stratifiedKFold(cases, 2.5, 0)).toThrow(/k must be an integer/);
    const withUnlabelled = [...cases, { id: 'RJPD_999', label: undefined }];
    expect(() => stratifiedKFold(withUnlabelled, 2, 0)).toThrow(/RJPD_999 has no label/);
  });
});

describe('stratifiedSplit', () => {
  it('keeps class proportions and covers every case exactly once', () => {
    const cases = cohort(60, 40);
    const { train, val } = stratifiedSplit(cases, 0.2, 7);
    expect(train.length + val.length).toBe(100);
    expect(new Set([...train, ...val].map((c) => c.id)).size).toBe(100);
    expect(val.filter((c) => c.label === 1)).toHaveLength(12);
    expect(val.filter((c) => c.label === 0)).toHaveLength(8);
    expect(stratifiedSplit(cases, 0.2, 7).val.map((c) => c.id)).toEqual(val.map((c) => c.id));
    expect(stratifiedSplit(cases, 0.2, 8).val.map((c) => c.id)).not.toEqual(val.map((c) => c.id));
  });

  it('gives each class at least one validation case and rejects bad fractions', () => {
    const { val } = stratifiedSplit(cohort(3, 3), 0.05, 1);
    expect(val.filter((c) => c.label === 1)).toHaveLength(1);
    expect(val.filter((c) => c.label === 0)).toHaveLength(1);
    expect(() => stratifiedSplit(cohort(3, 3), 0, 1)).toThrow(/valFraction/);
    expect(() => stratifiedSplit(cohort(3, 3), 1, 1)).toThrow(/valFraction/);
    expect(() => stratifiedSplit([{ label: 1 }], 0.5, 1)).toThrow(/empty/);
  });
});
