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
  /**
   * Milliseconds one start of the threaded build may take before it is abandoned and started afresh
   * (up to {@link THREADED_START_ATTEMPTS} starts, then one thread). Default {@link THREADED_INIT_TIMEOUT_MS}.
   */
  startTimeoutMs?: number;
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

/**
 * How long one start of the threaded build may take before {@link initWasmBackendOptimized} abandons it.
 * A start takes about 1 s on 2 busy cores; a start whose pthread workers never all answer is rare but
 * was seen (once in CI), and waiting longer does not help it, while starting afresh does.
 */
export const THREADED_INIT_TIMEOUT_MS = 20_000;

/** Starts of the threaded build tried before {@link initWasmBackendOptimized} falls back to one thread. */
export const THREADED_START_ATTEMPTS = 3;

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
 * and registers the fast `BatchMatMul` and backward kernels. If the threaded build fails to start, starts it
 * afresh (up to {@link THREADED_START_ATTEMPTS} starts, each under {@link THREADED_INIT_TIMEOUT_MS}), then
 * runs `init` once single-threaded and says why in the notes, rather than failing. Used by {@link optimizeWasmBackend}
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
  const timeoutMs = options.startTimeoutMs ?? THREADED_INIT_TIMEOUT_MS;
  if (!(timeoutMs > 0 && Number.isFinite(timeoutMs))) {
    throw new MrnError(
      'E_INVALID_ARGUMENT',
      `optimizeWasm startTimeoutMs must be a positive number; got ${timeoutMs}`,
      {
        details: { startTimeoutMs: timeoutMs },
      },
    );
  }
  const plan = threadsPlan(wasmPackage, wanted);
  if (!plan.enabled && (wanted ?? 2) > 1 && plan.reason) notes.push(`wasm threads: ${plan.reason}`);

  let initError = await runInit(plan.enabled ? timeoutMs : undefined, init, beforeInit);
  let threadReport = finishWasmThreads(initError);
  for (
    let attempt = 2;
    plan.enabled && initError !== undefined && attempt <= THREADED_START_ATTEMPTS;
    attempt++
  ) {
    log(`mrn: threaded wasm start ${attempt - 1} failed, starting afresh: ${threadReport.reason}`);
    if (!threadsPlan(wasmPackage, wanted).enabled) break;
    initError = await runInit(timeoutMs, init, undefined);
    threadReport = finishWasmThreads(initError);
  }
  if (threadReport.reason) notes.push(`wasm threads: ${threadReport.reason}`);
  if (initError !== undefined) {
    if (!plan.enabled) throw initError;
    log(
      `mrn: threaded wasm failed to start ${THREADED_START_ATTEMPTS} times, using one thread: ${String(initError)}`,
    );
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
 * Runs `beforeInit` and `init`, the latter under `timeoutMs` when given (a threaded start).
 * Returns the error either threw (undefined when none), for the caller to retry or rethrow.
 */
async function runInit(
  timeoutMs: number | undefined,
  init: WasmInit,
  beforeInit: (() => void | Promise<void>) | undefined,
): Promise<unknown> {
  let initError: unknown;
  let timer: NodeJS.Timeout | undefined;
  try {
    if (beforeInit) await beforeInit();
    if (timeoutMs !== undefined) {
      // A worker that never reports "loaded" would leave the init pending forever; give up on this
      // start instead (a later setBackend supersedes the pending init).
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer from the pthread workers in ${timeoutMs / 1000} s`)),
          timeoutMs,
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
