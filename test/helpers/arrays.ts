/** Plain-number helpers for tests: deterministic input values and the largest elementwise difference. */

/**
 * `n` deterministic values in [-1, 1) from a linear congruential generator started at `seed`: cheap
 * test inputs that do not depend on tfjs's or mrn's random generators.
 */
export function lcgValues(n: number, seed: number): Float32Array {
  const v = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    v[i] = s / 1073741824 - 1;
  }
  return v;
}

/** Max |a − b| over two equally long arrays; throws when the lengths differ. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
