/**
 * Cross-validation folds trained at the same time, one per worker thread.
 *
 * On a CPU the wasm backend runs most of a training step on one thread: XNNPACK's pool speeds up the
 * matrix products only, and the element-wise kernels and JavaScript between them stay serial. Measured
 * on 2 cores with `mrn train`'s default heads (batch 8): one process with 2 threads steps in 3.35 s
 * (5.3 CPU-s: the pool spins); two processes with 1 thread each step in 4.16 s each, i.e. 2.08 s per
 * step together. Folds are independent (own seed, own split, own checkpoint folder), so training them
 * side by side, one single-threaded wasm backend each, is 1.6x faster and gives the same models.
 *
 * Each worker trains its folds with the same code as the sequential path (`trainFold`) and asks the
 * main thread for features (`FeatureSource.get`), which keeps the one feature cache (and its memory
 * budget and spill files) in the main thread. Models come back through their `best/` checkpoints, so
 * workers need the run folder (`outDir`).
 */

import * as tf from '@tensorflow/tfjs';
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { MrnError, type MrnErrorCode } from '../errors.js';
import { isFastBatchMatMulRegistered } from '../wasm/batch-matmul.js';
import type { CrossValidationConfig, CrossValidationIO, FoldResult } from './cross-validate.js';
import type { FeatureSource, LabelledCase, RoiFeatures } from './feature-batch.js';

/** One fold to train: its index, training cases (inner split made by the worker) and test cases. */
export interface FoldJob {
  index: number;
  train: readonly LabelledCase[];
  test: readonly LabelledCase[];
}

/** What a worker is started with (`workerData`). */
export interface FoldWorkerSetup {
  k: number;
  seed: number;
  config: CrossValidationConfig;
  outDir: string;
  checkpoint: CrossValidationIO['checkpoint'];
  roiIds: readonly string[];
  variants: number;
  /** The main thread's backend, which the worker uses too (wasm: with one thread). */
  backend: string;
  /** Whether the main thread's wasm backend has mrn's kernels (same kernels, same numbers). */
  optimizeWasm: boolean;
}

/** Messages from a worker. */
export type FoldWorkerMessage =
  | { type: 'ready' }
  | { type: 'log'; line: string }
  | { type: 'get'; id: number; caseId: string; roiId: string; variant: number }
  | { type: 'done'; result: FoldResult; checkpointDir: string }
  | { type: 'error'; code?: MrnErrorCode; message: string; details?: Record<string, unknown> };

/** Messages to a worker. */
export type FoldMainMessage =
  | { type: 'fold'; job: FoldJob }
  | { type: 'features'; id: number; value?: RoiFeatures; error?: { code?: MrnErrorCode; message: string } };

/** A fold trained in a worker: its result and the folder of its best checkpoint. */
export interface FoldOutcome {
  result: FoldResult;
  checkpointDir: string;
}

/** Memory one training worker may need (a wasm heap at paper scale plus its share of batches). */
const WORKER_MEMORY_BYTES = 3 * 2 ** 30;

/**
 * How many folds `trainMrn` trains at once by default: on the wasm backend one per core (at most
 * `k`, at most 4, and no more than free memory allows at ~3 GiB each); on any other backend 1
 * (tfjs-node and WebGPU already use the whole machine).
 */
export function defaultParallelFolds(k: number): number {
  if (tf.getBackend() !== 'wasm') return 1;
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  const memory = Math.floor(os.freemem() / WORKER_MEMORY_BYTES);
  return Math.max(1, Math.min(k, 4, cores, memory));
}

/** Why these settings cannot train folds in workers, or undefined when they can. */
export function parallelFoldsRefusal(
  config: CrossValidationConfig,
  io: CrossValidationIO,
): string | undefined {
  if (!io.outDir)
    return 'workers return their models through checkpoints, and no run folder (outDir) was given';
  if (!io.checkpoint) return 'no checkpoint context was given';
  try {
    structuredClone({ config, checkpoint: io.checkpoint });
  } catch {
    return 'the configuration holds values that cannot be sent to a worker (functions, class instances)';
  }
  return undefined;
}

/**
 * The worker script: the built `fold-worker.js`/`.cjs` next to this module, or, when running from
 * the TypeScript sources (tests, tsx), `fold-worker.ts` started through tsx.
 */
function startWorker(setup: FoldWorkerSetup): Worker {
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    const url = new URL('./fold-worker.ts', here).href;
    const bootstrap = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(url)}); });`;
    return new Worker(bootstrap, { eval: true, workerData: setup });
  }
  const file = new URL(here.endsWith('.cjs') ? './fold-worker.cjs' : './fold-worker.js', here);
  return new Worker(file, { workerData: setup });
}

/**
 * A worker that failed before it was ready for a fold (its script did not load, its backend did not
 * start): nothing was trained in it, so the caller can train the folds one at a time instead.
 */
export class FoldWorkerStartError extends Error {
  override readonly name = 'FoldWorkerStartError';
}

function workerError(m: {
  code?: MrnErrorCode;
  message: string;
  details?: Record<string, unknown>;
}): MrnError {
  return new MrnError(
    m.code ?? 'E_INTERNAL',
    m.message,
    m.details === undefined ? {} : { details: m.details },
  );
}

/** Serves one worker's feature requests from `source`. */
async function answerFeatures(
  worker: Worker,
  source: FeatureSource,
  m: Extract<FoldWorkerMessage, { type: 'get' }>,
): Promise<void> {
  let reply: FoldMainMessage;
  try {
    reply = { type: 'features', id: m.id, value: await source.get(m.caseId, m.roiId, m.variant) };
  } catch (error) {
    const code = error instanceof MrnError ? error.code : undefined;
    reply = {
      type: 'features',
      id: m.id,
      error: { code, message: (error as Error).message ?? String(error) },
    };
  }
  // Structured clone copies the arrays: the cache keeps its own.
  worker.postMessage(reply);
}

/**
 * Trains `jobs` in `workers` worker threads (folds handed out in order as workers free up) and
 * returns their outcomes in the order of `jobs`. Worker log lines reach `io.log` prefixed with the
 * fold. The first failure stops every worker and is rethrown (as an {@link MrnError} with the
 * worker's code). Requires {@link parallelFoldsRefusal} to have found nothing.
 */
export async function trainFoldsInWorkers(
  source: FeatureSource,
  jobs: readonly FoldJob[],
  k: number,
  seed: number,
  config: CrossValidationConfig,
  io: CrossValidationIO,
  workers: number,
): Promise<FoldOutcome[]> {
  const setup: FoldWorkerSetup = {
    k,
    seed,
    config,
    outDir: io.outDir!,
    checkpoint: io.checkpoint,
    roiIds: source.roiIds,
    variants: source.variants,
    backend: tf.getBackend(),
    optimizeWasm: tf.getBackend() === 'wasm' && isFastBatchMatMulRegistered(),
  };
  const outcomes: FoldOutcome[] = new Array(jobs.length);
  const started: Worker[] = [];
  let next = 0;
  const runWorker = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const worker = startWorker(setup);
      started.push(worker);
      let current: number | undefined;
      let ready = false;
      const handOut = () => {
        if (next >= jobs.length) {
          // Terminated rather than asked to stop: a backend's timers must not keep a worker alive.
          current = undefined;
          void worker.terminate();
          return;
        }
        current = next++;
        worker.postMessage({ type: 'fold', job: jobs[current]! } satisfies FoldMainMessage);
      };
      worker.on('message', (m: FoldWorkerMessage) => {
        if (m.type === 'ready') {
          ready = true;
          handOut();
        } else if (m.type === 'log') io.log?.(m.line);
        else if (m.type === 'get') void answerFeatures(worker, source, m);
        else if (m.type === 'done') {
          outcomes[current!] = { result: m.result, checkpointDir: m.checkpointDir };
          handOut();
        } else if (m.type === 'error') {
          reject(ready ? workerError(m) : new FoldWorkerStartError(m.message));
        }
      });
      worker.on('error', (error) => reject(ready ? error : new FoldWorkerStartError(error.message)));
      worker.on('exit', (code) => {
        if (!ready)
          reject(new FoldWorkerStartError(`a fold worker exited (code ${code}) before it was ready`));
        else if (current === undefined) resolve();
        else
          reject(
            new MrnError(
              'E_INTERNAL',
              `the worker training fold ${jobs[current]!.index + 1} exited (code ${code})`,
            ),
          );
      });
    });
  const count = Math.max(1, Math.min(workers, jobs.length));
  try {
    await Promise.all(Array.from({ length: count }, runWorker));
  } finally {
    await Promise.all(started.map((w) => w.terminate()));
  }
  return outcomes;
}
