/**
 * Catching errors in tests: the error a call throws (or a promise rejects with), and the common
 * "this must be an MrnError with this code" check. Each fails the test when nothing is thrown.
 */

import { expect } from 'vitest';
import { isMrnError } from '../../src/errors.js';

/** The error `fn` throws; fails the test, naming `what`, when `fn` returns normally. */
export function thrownBy(fn: () => unknown, what = 'the call'): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error(`expected ${what} to throw`);
}

/**
 * The error `p` rejects with (or `p()` throws or rejects with); fails the test, naming `what`, when it
 * resolves.
 */
export async function rejectionOf(
  p: Promise<unknown> | (() => unknown),
  what = 'the call',
): Promise<unknown> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    return e;
  }
  throw new Error(`expected ${what} to throw or reject`);
}

/** Asserts that `fn` throws an MrnError with `code` whose message matches `pattern`. */
export function expectMrnError(fn: () => unknown, code: string, pattern: RegExp): void {
  const caught = thrownBy(fn);
  expect(isMrnError(caught), String(caught)).toBe(true);
  expect((caught as { code: string }).code).toBe(code);
  expect((caught as Error).message).toMatch(pattern);
}

/** Asserts that `p` (or `p()`) fails with an MrnError with `code`; returns that error. */
export async function expectMrnRejection(
  p: Promise<unknown> | (() => unknown),
  code: string,
): Promise<Error> {
  const err = await rejectionOf(p);
  expect(isMrnError(err), String(err)).toBe(true);
  expect((err as { code: string }).code).toBe(code);
  return err as Error;
}
