/**
 * Multithreaded tfjs-backend-wasm in Node.
 *
 * Stock `@tensorflow/tfjs-backend-wasm` 4.22 reports no thread support in Node (tfjs issue #3830)
 * because its threaded build starts its Emscripten pthread workers from `blob:` URLs
 * (`URL.createObjectURL(new Blob([...]))`), and Node's `worker_threads` cannot load `blob:` URLs.
 * It also sizes XNNPACK's pool as "half the logical cores" (`emscripten_num_logical_cores() / 2`,
 * read once when the wasm module starts), so a 2-core machine would get one thread even if workers
 * started.
 *
 * {@link prepareWasmThreads} patches exactly those points for the duration of the backend's
 * initialisation, then {@link finishWasmThreads} undoes every patch:
 * - the `WASM_HAS_MULTITHREAD_SUPPORT` flag is set so the backend picks the threaded SIMD binary;
 * - `Blob` records the text of string blobs, and `URL.createObjectURL` serves the two scripts the
 *   backend builds (the worker script and the module factory it re-evaluates inside each worker)
 *   from temporary files instead of `blob:` URLs;
 * - the module factory is a function lifted out of the Node bundle, so it refers to bundle-scope
 *   names (`require$$0`, `commonjsGlobal`, tslib's `__values`, ...). Its file starts with a prelude
 *   that defines them inside the worker;
 * - `os.cpus()` reports twice the requested thread count while the module starts, which lifts the
 *   half-the-cores cap (the pool is still capped at the 8 workers the build pre-spawns).
 *
 * All of this depends on the bundle's internals, so it is only attempted on the exact backend
 * version it was written against ({@link THREADED_WASM_BACKEND_VERSION}) and when the scripts it
 * expects are recognised; otherwise the backend stays single-threaded and the reason is reported.
 */

import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import workerThreads from 'node:worker_threads';

/** The tfjs-backend-wasm version whose internals the threading patch was written and tested against. */
export const THREADED_WASM_BACKEND_VERSION = '4.22.0';

/** The most threads the threaded build can use: it pre-spawns 8 workers and XNNPACK caps there. */
export const MAX_WASM_THREADS = 8;

/** What `prepareWasmThreads` decided, before the backend initialises. */
export interface WasmThreadsPlan {
  /** Whether the threaded build will be tried. */
  enabled: boolean;
  /** Threads asked of XNNPACK's pool (1 when not enabled). */
  requested: number;
  /** Why threads are not enabled, when they are not. */
  reason?: string;
}

/** The outcome, after the backend initialised. */
export interface WasmThreadsReport {
  /** Threads XNNPACK's pool reports (`get_threads_count`); 1 for the single-threaded build. */
  threads: number;
  /** Pthread workers running XNNPACK's pool (threads minus the calling thread), counted from Emscripten's registry. */
  runningWorkers: number;
  /** Why the backend runs fewer threads than requested, when it does. */
  reason?: string;
}

/** The subset of the `@tensorflow/tfjs-backend-wasm` module the patch uses. */
export interface WasmBackendPackage {
  /** The package version (`version_wasm`). */
  version_wasm: string;
  /** Sets the XNNPACK pool size used when the backend initialises. */
  setThreadsCount(threads: number): void;
  /** The pool size actually in use, once initialised. */
  getThreadsCount(): number;
}

const MAIN_SCRIPT_HEAD = 'var WasmBackendModuleThreadedSimd = ';
const WORKER_SCRIPT_MARK = 'WasmBackendModuleThreadedSimd(Module)';

// Bundle-scope names the lifted factory refers to (checked against 4.22.0's node bundle: require$$0,
// 1, 3, 4, commonjsGlobal, _scriptDir, __values, __read, __spreadArray). `var` at the top of an
// indirectly eval'ed script makes them worker globals. The helpers are minimal tslib equivalents.
const FACTORY_PRELUDE = [
  "var require$$0 = require('fs'); var require$$1 = require('path');",
  "var require$$3 = require('perf_hooks'); var require$$4 = require('os');",
  'var commonjsGlobal = globalThis; var _scriptDir = undefined;',
  'var __values = function (o) { var m = o && o[Symbol.iterator]; if (m) return m.call(o);',
  '  var i = 0; return { next: function () { if (o && i >= o.length) o = void 0;',
  '  return { value: o && o[i++], done: !o }; } }; };',
  'var __read = function (o, n) { var m = o && o[Symbol.iterator]; if (!m) return o;',
  '  var it = m.call(o), ar = [], r; while ((n === void 0 || n-- > 0) && !(r = it.next()).done) ar.push(r.value);',
  '  return ar; };',
  'var __spreadArray = function (to, from) { return to.concat(Array.prototype.slice.call(from)); };',
  '',
].join('\n');

interface ActivePatch {
  dir: string;
  restore: (keepThreadFlag: boolean) => void;
  plan: WasmThreadsPlan;
  scriptsServed: { main: boolean; worker: boolean };
  pool: PoolWatch;
}

let active: ActivePatch | undefined;

function clampThreads(requested: number | undefined): number {
  const wanted = requested ?? os.cpus().length;
  if (!Number.isFinite(wanted) || wanted < 1) return 1;
  return Math.min(Math.floor(wanted), MAX_WASM_THREADS);
}

/**
 * Prepares the threaded wasm build for Node. Call after `@tensorflow/tfjs-backend-wasm` is imported
 * and before the `wasm` backend initialises (e.g. from `selectBackend`'s `beforeWasmInit`), then call
 * {@link finishWasmThreads} once `tf.setBackend('wasm')` has settled, whatever its outcome.
 *
 * Never throws for an unsupported environment: it returns a plan with `enabled: false` and the reason.
 *
 * @param wasmPackage the imported `@tensorflow/tfjs-backend-wasm` module.
 * @param threads threads wanted; default all logical cores, at most {@link MAX_WASM_THREADS}.
 */
export function prepareWasmThreads(wasmPackage: WasmBackendPackage, threads?: number): WasmThreadsPlan {
  const requested = clampThreads(threads);
  const reason = refusalReason(wasmPackage, requested);
  if (reason !== undefined) return { enabled: false, requested: 1, reason };

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mrn-wasm-threads-'));
  const OriginalBlob = globalThis.Blob;
  const originalCreateObjectURL = URL.createObjectURL;
  const originalCpus = os.cpus;
  const env = tf.env();
  const originalFlag = env.getFlags().WASM_HAS_MULTITHREAD_SUPPORT;
  const server = scriptServer(dir, OriginalBlob, originalCreateObjectURL);
  const OriginalWorker = workerThreads.Worker;
  const pool = poolWatch(OriginalWorker);

  // Both scripts are built inside the backend's init, which runs while these patches are in place.
  globalThis.Blob = server.Blob;
  URL.createObjectURL = server.createObjectURL;
  os.cpus = inflatedCpus(originalCpus, requested * 2);
  // The module factory reads `require('worker_threads').Worker` when it starts (the same object).
  workerThreads.Worker = pool.Worker;
  env.set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  wasmPackage.setThreadsCount(requested);

  const plan: WasmThreadsPlan = { enabled: true, requested };
  active = {
    dir,
    plan,
    scriptsServed: server.served,
    pool,
    restore: (keepThreadFlag: boolean) => {
      globalThis.Blob = OriginalBlob;
      URL.createObjectURL = originalCreateObjectURL;
      os.cpus = originalCpus;
      workerThreads.Worker = OriginalWorker;
      // After a successful start the flag tells the truth (threads are supported); after a failure
      // the stock answer comes back so a retry loads the single-threaded build.
      if (!keepThreadFlag) env.set('WASM_HAS_MULTITHREAD_SUPPORT', originalFlag ?? false);
    },
  };
  return plan;
}

/** Why the threaded build cannot be tried here, or undefined when it can. */
function refusalReason(wasmPackage: WasmBackendPackage, requested: number): string | undefined {
  if (active) return 'a threading patch is already in progress';
  if (requested < 2) return `${requested} thread requested`;
  if (wasmPackage.version_wasm !== THREADED_WASM_BACKEND_VERSION) {
    return (
      `tfjs-backend-wasm ${wasmPackage.version_wasm} is not the version the threading patch supports ` +
      `(${THREADED_WASM_BACKEND_VERSION})`
    );
  }
  if (initialisedWasmBackend()) return 'the wasm backend was already initialised single-threaded';
  if (typeof SharedArrayBuffer === 'undefined' || typeof globalThis.Blob !== 'function') {
    return 'this runtime lacks SharedArrayBuffer or Blob';
  }
  return undefined;
}

/**
 * A `Blob` that records the text of string blobs and a `URL.createObjectURL` that serves the
 * backend's two scripts (module factory, worker script) from files in `dir` instead of `blob:` URLs;
 * `served` says which were written.
 */
function scriptServer(
  dir: string,
  OriginalBlob: typeof Blob,
  originalCreateObjectURL: typeof URL.createObjectURL,
): { Blob: typeof Blob; createObjectURL: (obj: Blob) => string; served: ActivePatch['scriptsServed'] } {
  const mainPath = path.join(dir, 'tfjs-backend-wasm-threaded-simd.cjs');
  const workerPath = path.join(dir, 'tfjs-backend-wasm-threaded-simd.worker.cjs');
  const served = { main: false, worker: false };
  const blobTexts = new WeakMap<object, string>();

  class RecordingBlob extends OriginalBlob {
    constructor(...args: ConstructorParameters<typeof Blob>) {
      super(...args);
      const parts: unknown[] | undefined = args[0];
      if (!parts || !parts.every((p) => typeof p === 'string')) return;
      const text = parts.join('');
      blobTexts.set(this, text);
      // The module factory travels to each worker as this Blob and is turned into a URL there, so
      // its file must exist before any worker starts.
      if (text.startsWith(MAIN_SCRIPT_HEAD)) {
        fs.writeFileSync(mainPath, FACTORY_PRELUDE + text);
        served.main = true;
      }
    }
  }

  const createObjectURL = (obj: Blob): string => {
    const text = blobTexts.get(obj);
    if (text !== undefined && text.startsWith(MAIN_SCRIPT_HEAD)) return mainPath;
    if (text !== undefined && text.includes(WORKER_SCRIPT_MARK)) {
      // Inside the worker the module factory arrives as a Blob again; serve it from the file written
      // above. Appended (not prepended) so the script's own "use strict" stays a directive; it runs
      // before any message arrives.
      const tail =
        `\n;URL.createObjectURL = function () { return ${JSON.stringify(mainPath)}; };` +
        'URL.revokeObjectURL = function () {};\n';
      fs.writeFileSync(workerPath, text + tail);
      served.worker = true;
      return workerPath;
    }
    return originalCreateObjectURL.call(URL, obj);
  };
  return { Blob: RecordingBlob as typeof Blob, createObjectURL, served };
}

/** The pthread workers one threaded start creates, and how many of them reported "loaded". */
interface PoolWatch {
  /** A `Worker` that records each instance and counts its "loaded" message. */
  Worker: typeof workerThreads.Worker;
  workers: workerThreads.Worker[];
  loaded: number;
  /** Stops counting (removes the listeners) and, for a start that failed, terminates the workers. */
  release(terminate: boolean): void;
}

/**
 * Watches the pthread pool of one threaded start. A start that never completes (a worker that never
 * reports "loaded") would otherwise leave its workers alive, and the not-yet-loaded ones keep Node
 * from exiting; the count also says, in the failure reason, how far the start got.
 */
function poolWatch(OriginalWorker: typeof workerThreads.Worker): PoolWatch {
  const listeners = new Map<workerThreads.Worker, (message: unknown) => void>();
  const watch: PoolWatch = {
    Worker: class RecordingWorker extends OriginalWorker {
      constructor(...args: ConstructorParameters<typeof workerThreads.Worker>) {
        super(...args);
        const onMessage = (message: unknown) => {
          if ((message as { cmd?: unknown } | null)?.cmd === 'loaded') watch.loaded++;
        };
        this.on('message', onMessage);
        listeners.set(this, onMessage);
        watch.workers.push(this);
      }
    },
    workers: [],
    loaded: 0,
    release(terminate: boolean) {
      for (const [worker, onMessage] of listeners) {
        worker.off('message', onMessage);
        if (terminate) void worker.terminate();
      }
      listeners.clear();
    },
  };
  return watch;
}

/** An `os.cpus` that reports at least `fakeCores` cores (copies of the first), lifting the half-the-cores cap. */
function inflatedCpus(originalCpus: typeof os.cpus, fakeCores: number): typeof os.cpus {
  return () => {
    const real = originalCpus.call(os);
    const template = real[0] ?? {
      model: 'unknown',
      speed: 0,
      times: { user: 0, nice: 0, sys: 0, idle: 0, irq: 0 },
    };
    return Array.from({ length: Math.max(fakeCores, real.length) }, (_, i) => real[i] ?? template);
  };
}

/**
 * The wasm backend instance if it is initialised, else undefined. Unlike `tf.findBackend`, this never
 * starts the initialisation itself.
 */
export function initialisedWasmBackend(): unknown {
  const registry = (tf.engine() as unknown as { registry: Record<string, unknown> }).registry;
  return registry.wasm ?? undefined;
}

interface EmscriptenThreadRegistry {
  PThread?: { runningWorkers?: Array<{ unref?: () => void }> };
}

/**
 * Lets the process exit while XNNPACK's pool threads idle. Emscripten `ref()`s a Node worker when it
 * starts a pthread on it, so the pool's threads, which live as long as the module, would keep Node
 * running forever after the program's last line. The main thread waits for them synchronously
 * (futex waits on shared memory), never through the event loop, so unreferencing them is safe.
 */
function unrefPoolWorkers(): void {
  const backend = initialisedWasmBackend() as { wasm?: EmscriptenThreadRegistry } | undefined;
  for (const worker of backend?.wasm?.PThread?.runningWorkers ?? []) worker.unref?.();
}

/** Threads the initialised wasm backend really runs: XNNPACK's pool size and the pthread workers behind it. */
export function wasmThreadsInUse(): { threads: number; runningWorkers: number } {
  const backend = initialisedWasmBackend() as
    | { wasm?: EmscriptenThreadRegistry & { tfjs?: { getThreadsCount(): number } } }
    | undefined;
  if (!backend?.wasm) return { threads: 0, runningWorkers: 0 };
  const threads = backend.wasm.tfjs?.getThreadsCount() ?? 1;
  const runningWorkers = backend.wasm.PThread?.runningWorkers?.length ?? 0;
  return { threads, runningWorkers };
}

/**
 * Undoes every patch {@link prepareWasmThreads} made, removes its temporary scripts (each worker has
 * read them by the time the backend is ready) and reports the threads in use. Safe to call when
 * nothing was prepared.
 *
 * @param initError the error `tf.setBackend('wasm')` failed with, if it did, to word the reason.
 */
export function finishWasmThreads(initError?: unknown): WasmThreadsReport {
  const patch = active;
  active = undefined;
  if (patch) {
    const started = initError === undefined && initialisedWasmBackend() !== undefined;
    patch.restore(started);
    // A failed start's workers belong to a module nobody will use.
    patch.pool.release(!started);
    fs.rmSync(patch.dir, { recursive: true, force: true });
  }
  unrefPoolWorkers();
  const inUse = wasmThreadsInUse();
  const threads = Math.max(1, inUse.threads);
  if (!patch) return { threads, runningWorkers: inUse.runningWorkers };
  let reason: string | undefined;
  if (initError !== undefined) {
    const message = initError instanceof Error ? initError.message : String(initError);
    const { loaded, workers } = patch.pool;
    reason = `the threaded wasm build failed to start: ${message} (${loaded} of ${workers.length} pthread workers loaded)`;
  } else if (!patch.scriptsServed.worker || !patch.scriptsServed.main) {
    reason = 'the backend did not build the worker scripts the threading patch expects';
  } else if (threads < patch.plan.requested) {
    reason = `XNNPACK's pool has ${threads} of the ${patch.plan.requested} threads requested`;
  }
  return { threads, runningWorkers: inUse.runningWorkers, reason };
}
