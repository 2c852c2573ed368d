/**
 * Shared pieces of the parser fuzz tests: seeded fast-check settings (scaled by `MRN_FUZZ_SCALE`, which
 * `npm run fuzz` sets to 100), the property every parser must keep (decode, or throw an MrnError with a
 * stable code that names the file, within a time budget), and byte-level mutations.
 */

import fc from 'fast-check';
import { expect } from 'vitest';
import { MrnError, type MrnErrorCode } from '../../src/errors.js';

/** Scale of the run counts: 1 in `npm test`, 100 in `npm run fuzz`. */
export const FUZZ_SCALE = Math.max(1, Number(process.env.MRN_FUZZ_SCALE ?? 1) || 1);

/** Seed of every fuzz property (override with `MRN_FUZZ_SEED` to explore other inputs). */
export const FUZZ_SEED = Number(process.env.MRN_FUZZ_SEED ?? 16) | 0;

/** fast-check parameters: seeded, `runs` cases times {@link FUZZ_SCALE}. */
export function fuzzParams(runs: number): fc.Parameters<unknown> {
  return { numRuns: runs * FUZZ_SCALE, seed: FUZZ_SEED, endOnFailure: true };
}

/** Test timeout for a property of `runs` cases (scaled with {@link FUZZ_SCALE}). */
export function fuzzTimeout(runs: number, msPerCase = 20): number {
  return Math.max(60_000, runs * FUZZ_SCALE * msPerCase);
}

/**
 * One input must decode or fail within this much CPU time (ms): anything slower counts as a hang.
 * CPU time, not wall time, so a machine loaded by other jobs does not fail the property; a blocked
 * read (no CPU used) is caught by {@link HANG_WALL_MS}.
 */
export const HANG_MS = 1000;

/** Wall-clock limit per input (ms), for hangs that do not burn CPU. */
export const HANG_WALL_MS = 10_000;

/**
 * One input may raise the process's peak resident memory by at most this much (bytes). The fuzzed
 * files are at most a few KB (a few MB decompressed) while the lying headers declare up to
 * terabytes, so a reader that believed one and allocated (and filled) its declared size would cross
 * it; the margin leaves room for V8 growing its own heap during a long run.
 */
export const PEAK_GROWTH_BYTES = 256 * 2 ** 20;

function peakRss(): number {
  return process.resourceUsage().maxRSS * 1024;
}

function checkCost(t0: number, cpu0: NodeJS.CpuUsage, rss0: number, file: FileName): void {
  const cpu = process.cpuUsage(cpu0);
  expect((cpu.user + cpu.system) / 1000, `decoding ${String(file)} took too long`).toBeLessThan(HANG_MS);
  expect(performance.now() - t0, `decoding ${String(file)} hung`).toBeLessThan(HANG_WALL_MS);
  expect(peakRss() - rss0, `decoding ${String(file)} raised the peak memory`).toBeLessThan(PEAK_GROWTH_BYTES);
}

/**
 * Runs `decode` on one fuzzed input and checks the contract: it returns (the caller checks the value)
 * or throws an {@link MrnError} whose code is in `codes` and whose `file` (and message) name `file`;
 * never another error type (RangeError, TypeError, SyntaxError...), and never slower than {@link HANG_MS}.
 * Returns the decoded value, or undefined when it threw as allowed.
 */
export function decodeOrMrnError<T>(
  decode: () => T,
  file: FileName,
  codes: readonly MrnErrorCode[],
): T | undefined {
  const rss0 = peakRss();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let value: T | undefined;
  try {
    value = decode();
  } catch (e) {
    checkError(e, file, codes);
  }
  checkCost(t0, cpu0, rss0, file);
  return value;
}

/** Async form of {@link decodeOrMrnError}. */
export async function decodeOrMrnErrorAsync<T>(
  decode: () => Promise<T>,
  file: FileName,
  codes: readonly MrnErrorCode[],
): Promise<T | undefined> {
  const rss0 = peakRss();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let value: T | undefined;
  try {
    value = await decode();
  } catch (e) {
    checkError(e, file, codes);
  }
  checkCost(t0, cpu0, rss0, file);
  return value;
}

function checkError(e: unknown, file: FileName, codes: readonly MrnErrorCode[]): void {
  if (e instanceof Error && e.name === 'AssertionError') throw e;
  if (!(e instanceof MrnError)) {
    throw new Error(
      `expected an MrnError for ${String(file)}, got ${(e as Error)?.name}: ${(e as Error)?.message}`,
      {
        cause: e,
      },
    );
  }
  expect(codes, e.message).toContain(e.code);
  if (typeof file === 'string') expect(e.file, e.message).toBe(file);
  else expect(e.file, e.message).toMatch(file);
  expect(e.message).toContain(e.file);
}

/** The file an error must name: exactly, or (when a damaged file points at another) by pattern. */
export type FileName = string | RegExp;

/** A mutation of a byte string, described for the shrunk counterexample. */
export type ByteMutation =
  | { kind: 'truncate'; at: number }
  | { kind: 'flip'; bits: number[] }
  | { kind: 'overwrite'; at: number; bytes: number[] };

/** Applies a {@link ByteMutation} to a copy of `bytes`. */
export function mutate(bytes: Uint8Array, m: ByteMutation): Uint8Array {
  if (m.kind === 'truncate') return bytes.slice(0, Math.min(m.at, bytes.length));
  const out = bytes.slice();
  if (m.kind === 'flip') {
    for (const b of m.bits) {
      const i = Math.floor(b / 8) % out.length;
      out[i] = out[i]! ^ (1 << b % 8);
    }
  } else {
    m.bytes.forEach((v, k) => {
      if (m.at + k < out.length) out[m.at + k] = v;
    });
  }
  return out;
}

/**
 * Mutations of a file of `length` bytes whose structure changes at `boundaries`: truncation at (and
 * one byte either side of) every boundary or anywhere, 1-8 bit flips biased to the first `hot` bytes,
 * and short overwrites with random bytes.
 */
export function byteMutation(
  length: number,
  boundaries: readonly number[],
  hot = length,
): fc.Arbitrary<ByteMutation> {
  const cut = fc.oneof(
    fc.constantFrom(...boundaries).chain((b) => fc.integer({ min: Math.max(0, b - 1), max: b + 1 })),
    fc.integer({ min: 0, max: Math.max(0, length - 1) }),
  );
  const bit = fc.oneof(
    fc.integer({ min: 0, max: Math.max(0, Math.min(hot, length) * 8 - 1) }),
    fc.integer({ min: 0, max: Math.max(0, length * 8 - 1) }),
  );
  return fc.oneof(
    cut.map((at) => ({ kind: 'truncate' as const, at })),
    fc.array(bit, { minLength: 1, maxLength: 8 }).map((bits) => ({ kind: 'flip' as const, bits })),
    fc
      .record({
        at: fc.integer({ min: 0, max: Math.max(0, Math.min(hot, length) - 1) }),
        bytes: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 8 }),
      })
      .map((o) => ({ kind: 'overwrite' as const, ...o })),
  );
}

/** Integers at the edges of signed/unsigned 16/32/64-bit ranges and around zero. */
export const EXTREME_INTS = [
  0,
  1,
  -1,
  2,
  3,
  4,
  7,
  8,
  127,
  128,
  255,
  256,
  32767,
  -32768,
  65535,
  2 ** 31 - 1,
  -(2 ** 31),
  2 ** 32 - 1,
  2 ** 53,
  -(2 ** 53),
  Number.MAX_SAFE_INTEGER,
];

/** Floats that break naive arithmetic. */
export const EXTREME_FLOATS = [
  0,
  -0,
  1,
  -1,
  0.5,
  1e-45,
  -1e-45,
  1e-38,
  3.4e38,
  -3.4e38,
  1e308,
  NaN,
  Infinity,
  -Infinity,
  352,
  348,
  2 ** 31,
];
