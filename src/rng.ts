/**
 * Seeded randomness. Every random choice in mrn (synthetic data, augmentation, sampling, weight
 * initialisation seeds) draws from an {@link Rng} passed in explicitly, so the same seed gives the same
 * numbers, and a serialised {@link RngState} lets resumed training and worker threads continue exactly.
 *
 * The generator is xoshiro128** (fast, 128-bit state, good statistical quality, 32-bit integer
 * arithmetic that JavaScript does exactly); seeds are expanded with splitmix32.
 */

import { MrnError } from './errors.js';

/** The complete, JSON-serialisable state of an {@link Rng}. */
export interface RngState {
  /** The four 32-bit words of the xoshiro128** state. */
  s: [number, number, number, number];
  /** A cached second normal deviate from the Box-Muller pair, if any. */
  spareNormal: number | null;
  /** How many forks this generator has made (forks are numbered, so they are reproducible). */
  forks: number;
  /** The seed of this generator's fork streams, fixed when the generator was first seeded. */
  forkBase: number;
}

/** A seeded pseudo-random generator. Create one with {@link createRng}. */
export interface Rng {
  /** A uniform float in [0, 1) with 32 random bits. */
  next(): number;
  /** A uniform unsigned 32-bit integer. */
  nextUint32(): number;
  /** A uniform integer in [min, max) (max exclusive). */
  int(min: number, max: number): number;
  /** A uniform float in [min, max). */
  uniform(min: number, max: number): number;
  /** A normal deviate (Box-Muller). */
  normal(mean?: number, std?: number): number;
  /** True with probability `p`. */
  bool(p?: number): boolean;
  /** Shuffles `items` in place (Fisher-Yates) and returns it. */
  shuffle<T>(items: T[]): T[];
  /** One element of `items`, uniformly. */
  pick<T>(items: readonly T[]): T;
  /** A non-negative 31-bit integer, for APIs that take a numeric seed (tfjs initialisers). */
  seed(): number;
  /**
   * A new, independent generator. The n-th fork of a generator is always the same stream, whatever
   * was drawn from the parent in between, so components can be added without shifting others' numbers.
   */
  fork(): Rng;
  /** A copy of the full state; pass it to {@link createRng} to continue exactly from here. */
  state(): RngState;
}

function splitmix32(x: number): () => number {
  let a = x >>> 0;
  return () => {
    a = (a + 0x9e3779b9) >>> 0;
    let z = a;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

function stateFromSeed(seed: number): RngState['s'] {
  // Mix both halves of a (possibly > 32-bit) integer seed.
  const hi = Math.floor(seed / 2 ** 32) >>> 0;
  const sm = splitmix32((seed >>> 0) ^ Math.imul(hi, 0x27d4eb2d));
  const s: RngState['s'] = [sm(), sm(), sm(), sm()];
  if ((s[0] | s[1] | s[2] | s[3]) === 0) s[0] = 1; // the all-zero state is a fixed point
  return s;
}

/**
 * Creates a seeded generator from an integer seed or from a saved {@link RngState}.
 *
 * @example
 * ```ts
 * const rng = createRng(42);
 * const aug = rng.fork();          // independent stream for augmentation
 * const saved = rng.state();       // JSON-serialisable
 * const again = createRng(saved);  // continues exactly where `rng` was
 * ```
 */
export function createRng(seed: number | RngState): Rng {
  const initial = initialState(seed);
  const s = initial.s;
  let spare = initial.spareNormal;
  let forks = initial.forks;
  // The fork base is fixed at seeding, so fork n does not depend on draws made from the parent.
  const forkBase = initial.forkBase;
  const nextUint32 = xoshiro128ss(s);
  const next = (): number => nextUint32() / 4294967296;

  const rng: Rng = {
    next,
    nextUint32,
    int(min, max) {
      if (!(max > min)) throw new MrnError('E_INVALID_ARGUMENT', `Rng.int: empty range [${min}, ${max})`);
      return min + Math.floor(next() * (max - min));
    },
    uniform: (min, max) => min + next() * (max - min),
    normal(mean = 0, std = 1) {
      if (spare !== null) {
        const v = spare;
        spare = null;
        return mean + std * v;
      }
      let u = 0;
      while (u === 0) u = next();
      const v = next();
      const r = Math.sqrt(-2 * Math.log(u));
      spare = r * Math.sin(2 * Math.PI * v);
      return mean + std * r * Math.cos(2 * Math.PI * v);
    },
    bool: (p = 0.5) => next() < p,
    shuffle(items) {
      for (let i = items.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        [items[i], items[j]] = [items[j]!, items[i]!];
      }
      return items;
    },
    pick(items) {
      if (items.length === 0) throw new MrnError('E_INVALID_ARGUMENT', 'Rng.pick: empty array');
      return items[Math.floor(next() * items.length)]!;
    },
    seed: () => nextUint32() >>> 1,
    fork() {
      forks += 1;
      return createRng(((forkBase ^ Math.imul(forks, 0x632be5ab)) >>> 0) + forkBase * 2 ** 20);
    },
    state: () => ({ s: [s[0], s[1], s[2], s[3]], spareNormal: spare, forks, forkBase }),
  };
  return rng;
}

/** The state to start from: expanded from an integer seed, or a validated copy of a saved state. */
function initialState(seed: number | RngState): RngState {
  if (typeof seed === 'number') {
    if (!Number.isInteger(seed) || !Number.isSafeInteger(seed)) {
      throw new MrnError('E_INVALID_ARGUMENT', `createRng: seed must be a safe integer, got ${seed}`);
    }
    const s = stateFromSeed(seed);
    const forkBase = (s[0] ^ Math.imul(s[1], 0x9e3779b9) ^ Math.imul(s[2], 0x85ebca6b) ^ s[3]) >>> 0;
    return { s, spareNormal: null, forks: 0, forkBase };
  }
  if (!seed || !Array.isArray(seed.s) || seed.s.length !== 4 || seed.s.some((w) => !Number.isInteger(w))) {
    throw new MrnError(
      'E_INVALID_ARGUMENT',
      'createRng: state must be an RngState ({ s: [4 x uint32], ... })',
    );
  }
  const s: RngState['s'] = [seed.s[0] >>> 0, seed.s[1] >>> 0, seed.s[2] >>> 0, seed.s[3] >>> 0];
  return {
    s,
    spareNormal: seed.spareNormal ?? null,
    forks: seed.forks ?? 0,
    forkBase: (seed.forkBase ?? s[0] ^ s[3]) >>> 0,
  };
}

/** The xoshiro128** step on state `s` (updated in place): each call returns the next uint32. */
function xoshiro128ss(s: RngState['s']): () => number {
  return (): number => {
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    s[0] >>>= 0;
    s[1] >>>= 0;
    s[2] >>>= 0;
    s[3] >>>= 0;
    return result;
  };
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
