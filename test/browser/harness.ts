/**
 * The page side of `npm run test:browser`: named checks run one after another in Chromium; each
 * records pass/fail, a detail line and its time, and the results are left on `window.__mrnResults`
 * for test/browser/run.ts to read. Also the comparison helpers the checks share.
 */

import * as tf from '@tensorflow/tfjs';

/** The outcome of one check. */
export interface CheckResult {
  name: string;
  ok: boolean;
  detail: string;
  ms: number;
}

/** What the page leaves for the runner. */
export interface PageResults {
  done: boolean;
  results: CheckResult[];
  fatal?: string;
}

type Check = { name: string; run: () => Promise<string> };
const checks: Check[] = [];

/** Registers a check: `run` returns a detail line when it passes and throws when it fails. */
export function check(name: string, run: () => Promise<string>): void {
  checks.push({ name, run });
}

/** Runs every registered check in order and publishes the results on `window.__mrnResults`. */
export async function runChecks(): Promise<void> {
  const page: PageResults = { done: false, results: [] };
  (globalThis as { __mrnResults?: PageResults }).__mrnResults = page;
  // `?only=<regex>` runs a subset (MRN_BROWSER_ONLY in run.ts), for working on one check.
  const only = new URLSearchParams(
    (globalThis as { location?: { search: string } }).location?.search ?? '',
  ).get('only');
  for (const c of checks.filter((k) => only === null || new RegExp(only).test(k.name))) {
    const start = performance.now();
    let result: CheckResult;
    try {
      result = { name: c.name, ok: true, detail: await c.run(), ms: 0 };
    } catch (error) {
      result = {
        name: c.name,
        ok: false,
        detail: error instanceof Error ? (error.stack ?? error.message) : String(error),
        ms: 0,
      };
    }
    result.ms = Math.round(performance.now() - start);
    console.log(
      `[mrn] ${result.ok ? 'ok  ' : 'FAIL'} ${c.name} (${result.ms} ms): ${result.detail.split('\n')[0]}`,
    );
    page.results.push(result);
  }
  page.done = true;
}

/** Largest |a - b| and largest |b| over two equally long arrays. */
export function diffStats(a: ArrayLike<number>, b: ArrayLike<number>): { maxDiff: number; maxRef: number } {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= maxDiff)) maxDiff = Number.isNaN(d) ? Infinity : d;
    maxRef = Math.max(maxRef, Math.abs(b[i]!));
  }
  return { maxDiff, maxRef };
}

/**
 * Asserts that every array of `got` equals the one of `want` with the same name within `tol` of
 * max(1, its largest magnitude); returns a summary (the worst relative difference).
 */
export function expectClose(
  got: Record<string, Float32Array>,
  want: Record<string, Float32Array>,
  tol: number,
): string {
  const names = Object.keys(want);
  if (Object.keys(got).sort().join() !== [...names].sort().join())
    throw new Error(`names differ: ${Object.keys(got)} vs ${names}`);
  let worst = 0;
  let worstName = '';
  const bad: string[] = [];
  for (const name of names) {
    const { maxDiff, maxRef } = diffStats(got[name]!, want[name]!);
    const scaled = maxDiff / Math.max(1, maxRef);
    if (scaled > worst || worstName === '') [worst, worstName] = [scaled, name];
    if (!(scaled <= tol))
      bad.push(`${name}: max |diff| ${maxDiff.toExponential(2)} (max |ref| ${maxRef.toExponential(2)})`);
  }
  if (bad.length)
    throw new Error(
      `${bad.length} of ${names.length} arrays differ by more than ${tol}:\n  ${bad.slice(0, 8).join('\n  ')}`,
    );
  return `${names.length} arrays, worst ${worst.toExponential(2)} (${worstName}) <= ${tol}`;
}

/**
 * Runs `compute` on the cpu backend and then on webgpu (tensors move between them as tfjs reads
 * them), returning both results as named arrays. `compute` returns tensors it owns; they are freed.
 */
export async function onCpuAndWebgpu(
  compute: () => Record<string, tf.Tensor>,
): Promise<{ cpu: Record<string, Float32Array>; webgpu: Record<string, Float32Array> }> {
  const read = async (backend: string) => {
    await tf.setBackend(backend);
    const out = compute();
    const arrays: Record<string, Float32Array> = {};
    for (const [name, t] of Object.entries(out)) arrays[name] = Float32Array.from(await t.data());
    tf.dispose(Object.values(out));
    return arrays;
  };
  const cpu = await read('cpu');
  const webgpu = await read('webgpu');
  return { cpu, webgpu };
}

/** Deterministic values in [-1, 1) (an LCG), for inputs and loss weights. */
export function lcg(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/** A tensor of {@link lcg} values. */
export function lcgTensor(shape: number[], seed: number): tf.Tensor {
  return tf.tensor(
    lcg(
      shape.reduce((a, b) => a * b, 1),
      seed,
    ),
    shape,
  );
}
