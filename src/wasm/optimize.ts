/**
 * Opt-in speed-ups for the tfjs wasm backend in Node: the XNNPACK-routed `BatchMatMul`
 * (./batch-matmul.ts) and the threaded build (./threads.ts). Both are tested to give the stock
 * kernels' results (up to float32 summation order); both can be turned off.
 */

import * as tf from '@tensorflow/tfjs';
import os from 'node:os';
import { MrnError } from '../errors.js';
import {
  registerWasmBackwardKernels,
  type WasmBackwardKernelOptions,
  type WasmBackwardKernelReport,
} from './backward-kernels.js';
import { type FastBatchMatMulOptions, registerFastBatchMatMul } from './batch-matmul.js';
import {
  finishWasmThreads,
  initialisedWasmBackend,
  MAX_WASM_THREADS,
  prepareWasmThreads,
  type WasmBackendPackage,
  type WasmThreadsPlan,
  wasmThreadsInUse,
} from './threads.js';

/** Options of {@link optimizeWasmBackend}. */
export interface OptimizeWasmOptions {
  /**
   * Threads for XNNPACK: a count (capped at 8, the workers the threaded build pre-spawns), or
   * `false`/1 for the single-threaded build. Default: every logical core. Only takes effect when the
   * wasm backend has not been initialised yet in this process.
   */
  threads?: number | false;
  /** Re-register `BatchMatMul` so transposed and batched products reach XNNPACK. Default true. */
  batchMatMul?: boolean | FastBatchMatMulOptions;
  /**
   * Re-register the kernels a backward pass leans on: a copy-free `Identity` and a `Sum` that reduces
   * leading axes without a transpose (see `registerWasmBackwardKernels`). `false` keeps the stock ones.
   * Default: both on.
   */
  backward?: boolean | WasmBackwardKernelOptions;
  /** Where to write one line per decision (e.g. why threads fell back to one). Default: silent. */
  log?: (line: string) => void;
}

/** What {@link optimizeWasmBackend} achieved. */
export interface OptimizeWasmReport {
  /** Whether the XNNPACK-routed `BatchMatMul` is registered. */
  batchMatMul: boolean;
  /** Which backward kernels are registered (copy-free `Identity`, leading-axes `Sum`). */
  backward: WasmBackwardKernelReport;
  /** Threads XNNPACK really runs with. */
  threads: number;
  /** Threads that were asked for. */
  requestedThreads: number;
  /** Pthread workers serving XNNPACK's pool right now (threads minus the calling thread when threaded). */
  runningWorkers: number;
  /** Why anything asked for is not in effect. */
  notes: string[];
}

/** How long the threaded build may take to start before {@link initWasmBackendOptimized} gives up on threads. */
export const THREADED_INIT_TIMEOUT_MS = 60_000;

/** A wasm initialisation that {@link initWasmBackendOptimized} performs between its two hooks. */
export type WasmInit = () => Promise<void>;

function requestedThreads(threads: number | false | undefined): number | undefined {
  if (threads === false) return 1;
  if (threads === undefined) return undefined;
  if (!Number.isInteger(threads) || threads < 1) {
    throw new MrnError(
      'E_INVALID_ARGUMENT',
      `optimizeWasm threads must be a positive integer or false; got ${threads}`,
      {
        details: { threads },
      },
    );
  }
  return threads;
}

/**
 * Initialises the wasm backend with the optimisations on: prepares threads, runs `beforeInit` (for
 * callers' own hooks), then `init` (which must set the wasm backend, e.g. `tf.setBackend('wasm')`),
 * and registers the fast `BatchMatMul` and backward kernels. If the threaded build fails to start, retries `init` once
 * single-threaded and says why in the notes, rather than failing. Used by {@link optimizeWasmBackend}
 * and by `selectBackend({ optimizeWasm })`.
 *
 * @param wasmPackage the imported `@tensorflow/tfjs-backend-wasm` module.
 */
export async function initWasmBackendOptimized(
  wasmPackage: WasmBackendPackage,
  options: OptimizeWasmOptions,
  init: WasmInit,
  beforeInit?: () => void | Promise<void>,
): Promise<OptimizeWasmReport> {
  const log = options.log ?? (() => {});
  const notes: string[] = [];
  const wanted = requestedThreads(options.threads);
  const plan = threadsPlan(wasmPackage, wanted);
  if (!plan.enabled && (wanted ?? 2) > 1 && plan.reason) notes.push(`wasm threads: ${plan.reason}`);

  const initError = await runInit(plan.enabled, init, beforeInit);
  const threadReport = finishWasmThreads(initError);
  if (threadReport.reason) notes.push(`wasm threads: ${threadReport.reason}`);
  if (initError !== undefined) {
    if (!plan.enabled) throw initError;
    log(`mrn: threaded wasm failed to start, retrying with one thread: ${String(initError)}`);
    await init();
  }

  const { batchMatMul, backward } = registerKernels(options, notes);
  const inUse = wasmThreadsInUse();
  const report: OptimizeWasmReport = {
    batchMatMul,
    backward,
    threads: Math.max(1, inUse.threads),
    requestedThreads: plan.enabled ? plan.requested : (wanted ?? plan.requested),
    runningWorkers: inUse.runningWorkers,
    notes,
  };
  log(
    `mrn: wasm optimised: BatchMatMul ${batchMatMul ? 'via XNNPACK' : 'stock'}, ` +
      `${report.threads} thread(s)${notes.length ? ` (${notes.join('; ')})` : ''}`,
  );
  return report;
}

/**
 * The threads plan: {@link prepareWasmThreads}'s, or, when the backend is already up (its thread
 * count fixed), none, with a reason only when the running pool is smaller than asked for.
 */
function threadsPlan(wasmPackage: WasmBackendPackage, wanted: number | undefined): WasmThreadsPlan {
  const alreadyUp = initialisedWasmBackend() !== undefined;
  const running = wasmThreadsInUse().threads;
  if (!alreadyUp) return prepareWasmThreads(wasmPackage, wanted);
  return {
    enabled: false,
    requested: wanted ?? running,
    reason:
      running < Math.min(wanted ?? os.cpus().length, MAX_WASM_THREADS)
        ? `the wasm backend was already initialised with ${running} thread(s); its thread count is fixed`
        : undefined,
  };
}

/**
 * Runs `beforeInit` and `init`, the latter under {@link THREADED_INIT_TIMEOUT_MS} when threaded.
 * Returns the error either threw (undefined when none), for the caller to retry or rethrow.
 */
async function runInit(
  threaded: boolean,
  init: WasmInit,
  beforeInit: (() => void | Promise<void>) | undefined,
): Promise<unknown> {
  let initError: unknown;
  let timer: NodeJS.Timeout | undefined;
  try {
    if (beforeInit) await beforeInit();
    if (threaded) {
      // A worker that never reports "loaded" would leave the init pending forever; give up on
      // threads instead (a later setBackend supersedes the pending init).
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(new Error(`no answer from the pthread workers in ${THREADED_INIT_TIMEOUT_MS / 1000} s`)),
          THREADED_INIT_TIMEOUT_MS,
        );
      });
      await Promise.race([init(), timeout]);
    } else {
      await init();
    }
  } catch (error) {
    initError = error;
  } finally {
    if (timer) clearTimeout(timer);
  }
  return initError;
}

/** Registers the fast `BatchMatMul` and the backward kernels as the options say, noting what failed. */
function registerKernels(
  options: OptimizeWasmOptions,
  notes: string[],
): Pick<OptimizeWasmReport, 'batchMatMul' | 'backward'> {
  let batchMatMul = false;
  const bmm = options.batchMatMul ?? true;
  if (bmm !== false) {
    batchMatMul = registerFastBatchMatMul(bmm === true ? {} : bmm);
    if (!batchMatMul) notes.push('BatchMatMul: no wasm BatchMatMul kernel is registered to replace');
  }
  const backwardOption = options.backward ?? true;
  const backward =
    backwardOption === false
      ? { identity: false, sum: false }
      : registerWasmBackwardKernels(backwardOption === true ? {} : backwardOption);
  return { batchMatMul, backward };
}

/**
 * Makes the tfjs wasm backend fast in Node and activates it: runs XNNPACK on every logical core (the
 * stock backend runs one thread in Node, tfjs issue #3830) and routes transposed and batched
 * matrix products, i.e. every matmul gradient and attention product, to XNNPACK instead of a scalar
 * loop. A ViT-S forward+backward runs several times faster with identical results (see README,
 * "Fast wasm in Node"). Call it instead of `tf.setBackend('wasm')`, before the wasm backend first
 * initialises (threads cannot be added afterwards; the kernel still can).
 *
 * Never fails because threads are unavailable: it falls back to one thread and says why in
 * `notes`. Throws `E_BACKEND` when `@tensorflow/tfjs-backend-wasm` cannot be loaded at all.
 *
 * @example
 * ```ts
 * const report = await optimizeWasmBackend({ log: console.log });
 * console.log(report.threads); // e.g. 2 on a 2-core machine
 * ```
 */
export async function optimizeWasmBackend(options: OptimizeWasmOptions = {}): Promise<OptimizeWasmReport> {
  let wasmPackage: WasmBackendPackage;
  try {
    wasmPackage = (await import('@tensorflow/tfjs-backend-wasm')) as unknown as WasmBackendPackage;
  } catch (error) {
    throw new MrnError('E_BACKEND', `@tensorflow/tfjs-backend-wasm could not be loaded: ${String(error)}`, {
      cause: error,
    });
  }
  return initWasmBackendOptimized(wasmPackage, options, async () => {
    const ok = await tf.setBackend('wasm');
    if (!ok) throw new Error("tf.setBackend('wasm') returned false");
    await tf.ready();
  });
}
