/**
 * Backend selection in a browser: webgpu, then wasm (multi-threaded when the page is cross-origin
 * isolated), then cpu, reporting why each was skipped. The Node entry's `selectBackend` (src/backend.ts)
 * has the same name and report; this one is what the browser build exports.
 */

import * as tf from '@tensorflow/tfjs';
import type { BackendCandidate, BackendReport, SkippedBackend } from '../backend.js';
import { MrnError } from '../errors.js';
import { describeAdapter, navigatorGpu } from '../webgpu/adapter.js';
import { optimizeWebgpuBackend } from '../webgpu/optimize.js';

/** The backends the browser build can select. */
export type BrowserBackendName = 'webgpu' | 'wasm' | 'cpu';

/** Options of the browser {@link selectBackend}. */
export interface BrowserSelectBackendOptions {
  /** Force one backend; fails with `E_BACKEND` if it cannot load. Default: automatic (webgpu, wasm, cpu). */
  backend?: BrowserBackendName;
  /**
   * wasm only: where the `.wasm` files of `@tensorflow/tfjs-backend-wasm` are served (a folder URL
   * ending in `/`). Default: tfjs's own default (beside the script).
   */
  wasmPaths?: string;
  /** wasm only: threads when the page is cross-origin isolated. Default `navigator.hardwareConcurrency`. */
  threads?: number;
  /** Where to write one line per decision. Default: silent. */
  log?: (line: string) => void;
}

/** The order the browser {@link selectBackend} tries. */
export const BROWSER_BACKEND_CANDIDATES: readonly BackendCandidate[] = [
  { backend: 'webgpu', pkg: '@tensorflow/tfjs-backend-webgpu' },
  { backend: 'wasm', pkg: '@tensorflow/tfjs-backend-wasm' },
  { backend: 'cpu', pkg: '@tensorflow/tfjs' },
];

type Outcome = { ok: true; threads: number; simd?: boolean } | { ok: false; skip: SkippedBackend };

function hardwareThreads(): number {
  return (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1;
}

async function activate(name: BrowserBackendName): Promise<void> {
  if (!(await tf.setBackend(name))) throw new Error(`tf.setBackend('${name}') returned false`);
  await tf.ready();
}

async function tryWebgpu(candidate: BackendCandidate, notes: string[]): Promise<Outcome> {
  const gpu = navigatorGpu();
  if (!gpu) {
    return {
      ok: false,
      skip: {
        ...candidate,
        status: 'failed',
        reason: 'navigator.gpu is absent: this browser (or page context) has no WebGPU',
      },
    };
  }
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) {
    return {
      ok: false,
      skip: { ...candidate, status: 'failed', reason: 'WebGPU is there but no GPU adapter was found' },
    };
  }
  await import('@tensorflow/tfjs-backend-webgpu');
  optimizeWebgpuBackend();
  await activate('webgpu');
  notes.push(`webgpu adapter: ${describeAdapter(adapter)}`);
  return { ok: true, threads: 1 };
}

async function tryWasm(options: BrowserSelectBackendOptions, notes: string[]): Promise<Outcome> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  if (options.wasmPaths) wasm.setWasmPaths(options.wasmPaths);
  const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
  if (isolated) {
    wasm.setThreadsCount(options.threads ?? hardwareThreads());
    notes.push(
      "wasm: threaded build (the page is cross-origin isolated); tfjs sizes XNNPACK's pool to half the logical cores",
    );
  } else
    notes.push(
      'wasm runs 1 thread: the page is not cross-origin isolated (serve it with COOP/COEP headers for threads)',
    );
  await activate('wasm');
  return {
    ok: true,
    threads: wasm.getThreadsCount(),
    simd: tf.env().getBool('WASM_HAS_SIMD_SUPPORT') as boolean,
  };
}

/**
 * Picks and activates the best backend this page offers: `webgpu` (when `navigator.gpu` gives an
 * adapter; mrn's webgpu kernel fixes are registered), then `wasm` (threads when the page is
 * cross-origin isolated), then `cpu`. A forced backend that cannot load throws `E_BACKEND`.
 *
 * @returns the chosen backend, its thread count, and why earlier candidates were skipped.
 */
export async function selectBackend(options: BrowserSelectBackendOptions = {}): Promise<BackendReport> {
  const log = options.log ?? (() => {});
  const skipped: SkippedBackend[] = [];
  const notes: string[] = [];
  for (const candidate of BROWSER_BACKEND_CANDIDATES) {
    if (options.backend && candidate.backend !== options.backend) {
      skipped.push({
        ...candidate,
        status: 'not-requested',
        reason: `backend forced to '${options.backend}'`,
      });
      continue;
    }
    let outcome: Outcome;
    try {
      if (candidate.backend === 'webgpu') outcome = await tryWebgpu(candidate, notes);
      else if (candidate.backend === 'wasm') outcome = await tryWasm(options, notes);
      else {
        await activate('cpu');
        outcome = { ok: true, threads: 1 };
      }
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      outcome = {
        ok: false,
        skip: { ...candidate, status: 'failed', reason: `${candidate.pkg} failed to load: ${reason}` },
      };
    }
    if (outcome.ok) {
      log(`mrn: backend ${candidate.backend} via ${candidate.pkg}, ${outcome.threads} thread(s)`);
      return {
        backend: candidate.backend,
        pkg: candidate.pkg,
        threads: outcome.threads,
        simd: outcome.simd,
        skipped,
        notes,
      };
    }
    log(`mrn: skipped ${candidate.pkg}: ${outcome.skip.reason}`);
    skipped.push(outcome.skip);
  }
  const tried = skipped.filter((s) => s.status !== 'not-requested');
  throw new MrnError(
    'E_BACKEND',
    `backend '${options.backend ?? 'any'}' could not be loaded: ${tried.map((s) => s.reason).join('; ')}`,
    {
      details: { skipped },
    },
  );
}
