import * as tf from '@tensorflow/tfjs';
import os from 'node:os';
import workerThreads from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend.js';

// A threaded start whose pthread workers never all answer, made real: the first pthread worker the
// backend creates is terminated at once, so it never reports "loaded" and that start hangs, as the
// one seen in CI did. Runs in its own project after everything else (vitest.config.ts).
const OriginalWorker = workerThreads.Worker;
const firstStart: workerThreads.Worker[] = [];
const exited = new Set<workerThreads.Worker>();
workerThreads.Worker = class SabotagingWorker extends OriginalWorker {
  constructor(...args: ConstructorParameters<typeof workerThreads.Worker>) {
    super(...args);
    // The threaded build pre-spawns its 8 workers synchronously when a start begins.
    if (firstStart.length < 8) {
      firstStart.push(this);
      this.once('exit', () => exited.add(this));
      if (firstStart.length === 1) void this.terminate();
    }
  }
};
afterAll(() => {
  workerThreads.Worker = OriginalWorker;
});

describe('a threaded wasm start that hangs', () => {
  it('is abandoned after startTimeoutMs, its workers terminated, and a fresh start runs 2 threads', async () => {
    if (os.cpus().length < 2) return; // one core: threads are refused before any start
    const lines: string[] = [];
    const t0 = Date.now();
    const report = await selectBackend({
      backend: 'wasm',
      optimizeWasm: { threads: 2, startTimeoutMs: 8_000 },
      log: (l) => lines.push(l),
    });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(8_000);
    // The sabotaged worker never loads; on a loaded machine others may not have loaded in 8 s either.
    const failure = lines
      .join('\n')
      .match(
        /threaded wasm start 1 failed, starting afresh: .*no answer from the pthread workers in 8 s \((\d) of 8 pthread workers loaded\)/,
      );
    expect(failure).not.toBeNull();
    expect(Number(failure![1])).toBeLessThan(8);
    // The fresh start is not a degraded one: nothing is noted, two threads run.
    expect(report.notes).toEqual([]);
    expect(report.threads).toBe(2);
    expect(report.wasmOptimization?.runningWorkers).toBe(1);
    // Every worker of the abandoned start is gone (the loaded ones would idle forever, the others
    // would keep Node from exiting).
    for (let waited = 0; exited.size < firstStart.length && waited < 10_000; waited += 50) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(firstStart).toHaveLength(8);
    expect(exited.size).toBe(8);
    const y = tf.matMul(tf.ones([3, 2]), tf.ones([4, 2]), false, true);
    expect(Array.from(await y.data())).toEqual(new Array(12).fill(2));
    y.dispose();
  });
});
