import * as tf from '@tensorflow/tfjs';
import * as wasmPackage from '@tensorflow/tfjs-backend-wasm';
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { initWasmBackendOptimized, THREADED_START_ATTEMPTS } from '../../src/wasm/optimize.js';
import type { WasmBackendPackage } from '../../src/wasm/threads.js';

describe('threaded wasm start-up failure', () => {
  it('starts afresh, then falls back to one thread with a logged reason instead of failing', async () => {
    const originalBlob = globalThis.Blob;
    const lines: string[] = [];
    let attempts = 0;
    const report = await initWasmBackendOptimized(
      wasmPackage as unknown as WasmBackendPackage,
      { threads: 2, log: (l) => lines.push(l) },
      async () => {
        attempts++;
        // Every threaded start fails as a broken worker script would.
        if (attempts <= THREADED_START_ATTEMPTS) throw new Error('simulated worker failure');
        if (!(await tf.setBackend('wasm'))) throw new Error('setBackend failed');
        await tf.ready();
      },
    );
    expect(attempts).toBe(THREADED_START_ATTEMPTS + 1);
    expect(tf.getBackend()).toBe('wasm');
    expect(report.threads).toBe(1);
    expect(report.runningWorkers).toBe(0);
    expect(report.batchMatMul).toBe(true);
    expect(report.notes.join(' ')).toMatch(/threaded wasm build failed to start: simulated worker failure/);
    expect(lines.join('\n')).toMatch(/start 1 failed, starting afresh/);
    expect(lines.join('\n')).toMatch(/failed to start 3 times, using one thread/);
    // The stock single-threaded build is what runs: the patches are gone and the flag is back.
    expect(globalThis.Blob).toBe(originalBlob);
    expect(tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT')).toBe(false);
    expect(os.cpus().length).toBeGreaterThan(0);
    const y = tf.matMul(tf.ones([3, 2]), tf.ones([4, 2]), false, true);
    expect(Array.from(await y.data())).toEqual(new Array(12).fill(2));
    y.dispose();
  });

  it('rejects a bad thread count with an MrnError', async () => {
    await expect(
      initWasmBackendOptimized(wasmPackage as unknown as WasmBackendPackage, { threads: 0 }, async () => {}),
    ).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT' });
    for (const startTimeoutMs of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      await expect(
        initWasmBackendOptimized(
          wasmPackage as unknown as WasmBackendPackage,
          { threads: 2, startTimeoutMs },
          async () => {},
        ),
      ).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT', message: /startTimeoutMs/ });
    }
  });
});
