/**
 * Backend selection. Importing mrn loads and switches no backend; {@link selectBackend} loads them
 * lazily, best first, and reports what it chose and why it skipped the others.
 */

import * as tf from '@tensorflow/tfjs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { MrnError } from './errors.js';
import { initWasmBackendOptimized, type OptimizeWasmReport } from './wasm/optimize.js';
import { installNodeWebgpu, NODE_WEBGPU_PACKAGES } from './webgpu/node-webgpu.js';
import { optimizeWebgpuBackend } from './webgpu/optimize.js';

/** The tfjs backend names mrn can select (`webgpu`: only when forced in Node; first in a browser). */
export type BackendName = 'tensorflow' | 'wasm' | 'cpu' | 'webgpu';

/** One candidate {@link selectBackend} considered, in order. */
export interface BackendCandidate {
  /** The tfjs backend this candidate would give. */
  backend: BackendName;
  /** The npm package that provides it (`@tensorflow/tfjs` itself for `cpu`). */
  pkg: string;
}

/** Why a candidate was not chosen. */
export interface SkippedBackend extends BackendCandidate {
  /** `not-installed`: the package is absent; `failed`: it is present but did not load or initialise. */
  status: 'not-installed' | 'failed' | 'not-requested';
  /** A human-readable reason. */
  reason: string;
}

/** What {@link selectBackend} chose. */
export interface BackendReport {
  /** The active tfjs backend, as `tf.getBackend()` reports it. */
  backend: BackendName;
  /** The package that provides it. */
  pkg: string;
  /** The number of threads the backend really uses (wasm: its pool size; cpu: 1). */
  threads: number;
  /** wasm only: whether the SIMD build runs. */
  simd?: boolean;
  /** Candidates tried before this one, with the reason each was skipped. */
  skipped: SkippedBackend[];
  /** Extra notes (e.g. why wasm runs single-threaded). */
  notes: string[];
  /** wasm with `optimizeWasm` only: what the optimisation achieved (see `optimizeWasmBackend`). */
  wasmOptimization?: OptimizeWasmReport;
}

/** Options of {@link selectBackend}. */
export interface SelectBackendOptions {
  /**
   * Force one backend; fails with `E_BACKEND` if it cannot load. Default: the `MRN_BACKEND`
   * environment variable if set, else automatic (tfjs-node-gpu, tfjs-node, wasm, cpu). `webgpu` is
   * only tried when forced: it needs the optional peer `webgpu` (Dawn; `@tensorflow/tfjs-backend-webgpu` is a dependency)
   * and a GPU adapter.
   */
  backend?: BackendName;
  /**
   * wasm only: number of threads to ask for. Default: as many as the runtime allows. Stock
   * tfjs-backend-wasm runs one thread in Node (tfjs issue #3830).
   */
  threads?: number;
  /**
   * wasm only: hook run after the backend is registered but before it initialises, for opt-in
   * optimisations (kernel re-registration, threading patches). Default: none.
   */
  beforeWasmInit?: (wasmModule: unknown) => void | Promise<void>;
  /**
   * wasm only: turn on mrn's wasm speed-ups (see `optimizeWasmBackend`): XNNPACK for transposed and
   * batched matrix products, and the threaded build in Node with `threads` threads (default: every
   * logical core, at most 8; `threads: 1` keeps one). A threaded start that does not finish within
   * `startTimeoutMs` (default 20 000) is started afresh, up to 3 times; then it falls back to one
   * thread with a note rather than failing. Default: off (stock tfjs-backend-wasm).
   */
  optimizeWasm?: boolean | { threads?: number; startTimeoutMs?: number };
  /** Where to write one line per decision. Default: silent. */
  log?: (line: string) => void;
}

/** The order {@link selectBackend} tries when nothing is forced. */
export const BACKEND_CANDIDATES: readonly BackendCandidate[] = [
  { backend: 'tensorflow', pkg: '@tensorflow/tfjs-node-gpu' },
  { backend: 'tensorflow', pkg: '@tensorflow/tfjs-node' },
  { backend: 'wasm', pkg: '@tensorflow/tfjs-backend-wasm' },
  { backend: 'cpu', pkg: '@tensorflow/tfjs' },
];

/** The Node webgpu candidate, tried only when forced (see {@link SelectBackendOptions.backend}). */
export const WEBGPU_CANDIDATE: BackendCandidate = {
  backend: 'webgpu',
  pkg: '@tensorflow/tfjs-backend-webgpu',
};

const requireFromHere = createRequire(import.meta.url);

/** True when `pkg` can be resolved from mrn's location (i.e. it is installed). */
export function isPackageInstalled(pkg: string): boolean {
  try {
    requireFromHere.resolve(pkg);
    return true;
  } catch {
    return false;
  }
}

function parseForced(value: string | undefined): BackendName | undefined {
  if (value === undefined || value === '') return undefined;
  if (value === 'wasm' || value === 'cpu' || value === 'tensorflow' || value === 'webgpu') return value;
  throw new MrnError(
    'E_BACKEND',
    `MRN_BACKEND must be one of wasm, cpu, tensorflow, webgpu; got '${value}'`,
    {
      details: { value },
    },
  );
}

async function tryCandidate(
  candidate: BackendCandidate,
  options: SelectBackendOptions,
  notes: string[],
): Promise<
  | { ok: true; threads: number; simd?: boolean; wasmOptimization?: OptimizeWasmReport }
  | { ok: false; skip: SkippedBackend }
> {
  const { backend, pkg } = candidate;
  let wasmOptimization: OptimizeWasmReport | undefined;
  const needed = backend === 'webgpu' ? NODE_WEBGPU_PACKAGES : backend === 'cpu' ? [] : [pkg];
  const missing = needed.filter((p) => !isPackageInstalled(p));
  if (missing.length > 0) {
    const reason = `${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} not installed${backend === 'webgpu' ? ' (the optional peer for WebGPU in Node: npm install webgpu)' : ''}`;
    return { ok: false, skip: { ...candidate, status: 'not-installed', reason } };
  }
  try {
    if (backend === 'webgpu') {
      notes.push(`webgpu adapter: ${await installNodeWebgpu()}`);
      await import('@tensorflow/tfjs-backend-webgpu');
      optimizeWebgpuBackend();
    } else if (backend === 'tensorflow') {
      // Loading tfjs-node registers the 'tensorflow' backend with the tfjs instance it resolves; it
      // must be the same instance as ours, which the peer dependency ensures.
      await import(pkg);
      if (!tf.findBackendFactory('tensorflow')) {
        throw new Error(`${pkg} loaded but registered no 'tensorflow' backend with this tfjs instance`);
      }
    } else if (backend === 'wasm') {
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      if (options.threads !== undefined) wasm.setThreadsCount(options.threads);
      if (options.optimizeWasm) {
        const wanted =
          options.optimizeWasm === true ? options.threads : (options.optimizeWasm.threads ?? options.threads);
        const hook = options.beforeWasmInit;
        const startTimeoutMs =
          options.optimizeWasm === true ? undefined : options.optimizeWasm.startTimeoutMs;
        wasmOptimization = await initWasmBackendOptimized(
          wasm,
          { threads: wanted, startTimeoutMs, log: options.log },
          async () => {
            if (!(await tf.setBackend('wasm'))) throw new Error("tf.setBackend('wasm') returned false");
            await tf.ready();
          },
          hook ? () => hook(wasm) : undefined,
        );
      } else if (options.beforeWasmInit) await options.beforeWasmInit(wasm);
    }
    const ok = await tf.setBackend(backend);
    if (!ok) throw new Error(`tf.setBackend('${backend}') returned false`);
    await tf.ready();
    if (backend === 'wasm') {
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      const threads = wasm.getThreadsCount();
      const simd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT') as boolean;
      if (wasmOptimization) {
        notes.push(...wasmOptimization.notes);
        return { ok: true, threads: wasmOptimization.threads, simd, wasmOptimization };
      }
      if (threads === 1 && os.cpus().length > 1) {
        notes.push('wasm runs 1 thread: stock tfjs-backend-wasm disables threads in Node (tfjs #3830)');
      }
      return { ok: true, threads, simd };
    }
    if (backend === 'tensorflow') return { ok: true, threads: os.cpus().length };
    return { ok: true, threads: 1 };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return {
      ok: false,
      skip: { ...candidate, status: 'failed', reason: `${pkg} failed to load: ${reason}` },
    };
  }
}

/**
 * Picks and activates the best available tfjs backend: `tensorflow` through `@tensorflow/tfjs-node-gpu`,
 * then through `@tensorflow/tfjs-node`, then `wasm` (SIMD where available), then `cpu`. Set
 * `MRN_BACKEND=wasm|cpu|tensorflow` (or `options.backend`) to force one; a forced backend that cannot
 * load throws an `E_BACKEND` {@link MrnError} listing why.
 *
 * @returns a report of the chosen backend, its real thread count, and why earlier candidates were skipped.
 */
export async function selectBackend(options: SelectBackendOptions = {}): Promise<BackendReport> {
  const forced = options.backend ?? parseForced(process.env.MRN_BACKEND);
  const log = options.log ?? (() => {});
  const skipped: SkippedBackend[] = [];
  const notes: string[] = [];
  const candidates = forced === 'webgpu' ? [WEBGPU_CANDIDATE, ...BACKEND_CANDIDATES] : BACKEND_CANDIDATES;
  for (const candidate of candidates) {
    if (forced && candidate.backend !== forced) {
      skipped.push({ ...candidate, status: 'not-requested', reason: `backend forced to '${forced}'` });
      continue;
    }
    const result = await tryCandidate(candidate, options, notes);
    if (result.ok) {
      const report: BackendReport = {
        backend: candidate.backend,
        pkg: candidate.pkg,
        threads: result.threads,
        simd: result.simd,
        skipped,
        notes,
      };
      if (result.wasmOptimization) report.wasmOptimization = result.wasmOptimization;
      log(`mrn: backend ${report.backend} via ${report.pkg}, ${report.threads} thread(s)`);
      return report;
    }
    log(`mrn: skipped ${candidate.pkg}: ${result.skip.reason}`);
    skipped.push(result.skip);
  }
  const tried = skipped.filter((s) => s.status !== 'not-requested');
  throw new MrnError(
    'E_BACKEND',
    `backend '${forced ?? 'any'}' could not be loaded: ${tried.map((s) => s.reason).join('; ')}`,
    { details: { skipped } },
  );
}
