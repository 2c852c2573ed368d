/**
 * The worker side of ./fold-workers.ts: sets up the main thread's backend (wasm with one thread),
 * then trains the folds it is handed with `trainFold`, the code the sequential path runs, asking the
 * main thread for every feature it reads. Built as its own entry (`dist/fold-worker.js`, `.cjs`).
 */

import { parentPort, workerData } from 'node:worker_threads';
import { type BackendName, selectBackend } from '../backend.js';
import { MrnError } from '../errors.js';
import { trainFold } from './cross-validate.js';
import type { FeatureSource, RoiFeatures } from './feature-batch.js';
import type { FoldMainMessage, FoldWorkerMessage, FoldWorkerSetup } from './fold-workers.js';

const port = parentPort!;
const setup = workerData as FoldWorkerSetup;
const post = (m: FoldWorkerMessage) => port.postMessage(m);

const pending = new Map<number, { resolve: (v: RoiFeatures) => void; reject: (e: Error) => void }>();
let nextRequest = 0;

/** Features come from the main thread's source, one request per case, ROI and variant. */
const source: FeatureSource = {
  roiIds: setup.roiIds,
  variants: setup.variants,
  get(caseId, roiId, variant) {
    const id = nextRequest++;
    return new Promise<RoiFeatures>((resolve, reject) => {
      pending.set(id, { resolve, reject });
      post({ type: 'get', id, caseId, roiId, variant });
    });
  },
};

function fail(error: unknown): void {
  const e = error instanceof Error ? error : new Error(String(error));
  post({
    type: 'error',
    code: error instanceof MrnError ? error.code : undefined,
    message: e.message,
    details: error instanceof MrnError ? error.details : undefined,
  });
}

async function trainOne(job: Extract<FoldMainMessage, { type: 'fold' }>['job']): Promise<void> {
  const { result, model, checkpointDir } = await trainFold(source, job, setup.k, setup.seed, setup.config, {
    outDir: setup.outDir,
    checkpoint: setup.checkpoint,
    progress: false,
    log: (line) =>
      post({ type: 'log', line: line.startsWith('fold ') ? line : `fold ${job.index + 1}: ${line}` }),
  });
  model.dispose();
  post({ type: 'done', result, checkpointDir: checkpointDir! });
}

port.on('message', (m: FoldMainMessage) => {
  if (m.type === 'features') {
    const waiting = pending.get(m.id);
    pending.delete(m.id);
    if (m.error) waiting?.reject(new MrnError(m.error.code ?? 'E_INTERNAL', m.error.message));
    else waiting?.resolve(m.value!);
  } else if (m.type === 'fold') {
    trainOne(m.job).catch(fail);
  }
});

selectBackend({
  backend: setup.backend as BackendName,
  optimizeWasm: setup.backend === 'wasm' && setup.optimizeWasm ? { threads: 1 } : undefined,
  threads: setup.backend === 'wasm' ? 1 : undefined,
})
  .then((report) => {
    if (report.backend !== setup.backend) {
      throw new MrnError(
        'E_BACKEND',
        `fold worker: backend ${setup.backend} unavailable (${report.notes.join('; ')})`,
      );
    }
    post({ type: 'ready' });
  })
  .catch(fail);
