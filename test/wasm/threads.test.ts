import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { beforeAll, describe, expect, it } from 'vitest';
import { type BackendReport, selectBackend } from '../../src/backend.js';
import { fastBatchMatMulStats } from '../../src/wasm/batch-matmul.js';
import { prepareWasmThreads, wasmThreadsInUse } from '../../src/wasm/threads.js';
import { lcgValues } from '../helpers/arrays.js';

// Everything a successful threaded start patches temporarily, captured before it.
const originalBlob = globalThis.Blob;
const originalCreateObjectURL = URL.createObjectURL;
const originalCpus = os.cpus;
const realCores = os.cpus().length;
const tmpBefore = new Set(fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith('mrn-wasm-threads-')));

describe('selectBackend({ optimizeWasm }) in Node', () => {
  let report: BackendReport;
  const lines: string[] = [];

  beforeAll(async () => {
    report = await selectBackend({
      backend: 'wasm',
      optimizeWasm: { threads: 2 },
      log: (l) => lines.push(l),
    });
  });

  it('runs the threaded build with the threads asked for, and reports them', () => {
    expect(report.backend).toBe('wasm');
    expect(report.wasmOptimization?.batchMatMul).toBe(true);
    if (realCores < 2) {
      // One core: threads are not worth it; the report says so instead of pretending.
      expect(report.threads).toBe(1);
      return;
    }
    expect(report.wasmOptimization?.notes).toEqual([]);
    expect(report.threads).toBe(2);
    expect(report.wasmOptimization?.threads).toBe(2);
    expect(tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT')).toBe(true);
    expect(lines.join('\n')).toMatch(/2 thread\(s\)/);
  });

  it('the pool has live pthread workers (threads really run, not just a number)', () => {
    if (realCores < 2) return;
    const inUse = wasmThreadsInUse();
    expect(inUse.threads).toBe(2);
    // XNNPACK's pool: the calling thread plus one Emscripten pthread worker.
    expect(inUse.runningWorkers).toBe(1);
  });

  it('undoes every temporary patch and removes its scripts', () => {
    expect(globalThis.Blob).toBe(originalBlob);
    expect(URL.createObjectURL).toBe(originalCreateObjectURL);
    expect(os.cpus).toBe(originalCpus);
    expect(os.cpus().length).toBe(realCores);
    const left = fs
      .readdirSync(os.tmpdir())
      .filter((f) => f.startsWith('mrn-wasm-threads-') && !tmpBefore.has(f));
    expect(left).toEqual([]);
  });

  it('threaded, XNNPACK-routed products and gradients agree with the cpu backend', async () => {
    const shapes = { a: [4, 70, 96], b: [4, 50, 96] };
    const a0 = lcgValues(4 * 70 * 96, 11);
    const b0 = lcgValues(4 * 50 * 96, 12);
    const compute = () =>
      tf.tidy(() => {
        const a = tf.tensor(a0, shapes.a);
        const b = tf.tensor(b0, shapes.b);
        const f = (x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.square(tf.matMul(x, y, false, true)));
        const [da, db] = tf.grads(f)([a, b]);
        return [tf.matMul(a, b, false, true).dataSync(), da.dataSync(), db.dataSync()];
      });
    const before = fastBatchMatMulStats();
    const wasm = compute();
    expect(fastBatchMatMulStats().perItem).toBeGreaterThan(before.perItem);
    await tf.setBackend('cpu');
    const cpu = compute();
    await tf.setBackend('wasm');
    for (let k = 0; k < 3; k++) {
      let scale = 0;
      let diff = 0;
      cpu[k].forEach((v, i) => {
        scale = Math.max(scale, Math.abs(v));
        diff = Math.max(diff, Math.abs(v - wasm[k][i]));
      });
      expect(diff / scale).toBeLessThan(1e-5);
    }
  });

  it('a second selectBackend({ optimizeWasm }) keeps the running pool and adds no note', async () => {
    const again = await selectBackend({ backend: 'wasm', optimizeWasm: true });
    expect(again.threads).toBe(report.threads);
    expect(again.notes).toEqual(realCores > 2 ? [expect.stringMatching(/already initialised with 2/)] : []);
    const four = await selectBackend({ backend: 'wasm', optimizeWasm: { threads: realCores > 1 ? 3 : 2 } });
    expect(four.threads).toBe(report.threads);
    expect(four.notes).toEqual([
      expect.stringMatching(/already initialised with \d thread\(s\); its thread count is fixed/),
    ]);
  });

  it('refuses, with a reason, to patch another backend version or an initialised backend', () => {
    const pkg = { version_wasm: '9.9.9', setThreadsCount: () => {}, getThreadsCount: () => 1 };
    const other = prepareWasmThreads(pkg, 2);
    expect(other.enabled).toBe(false);
    expect(other.reason).toMatch(/9\.9\.9 is not the version.*4\.22\.0/);
    const again = prepareWasmThreads({ ...pkg, version_wasm: '4.22.0' }, 2);
    expect(again).toEqual({
      enabled: false,
      requested: 1,
      reason: expect.stringMatching(/already initialised/),
    });
    expect(globalThis.Blob).toBe(originalBlob);
  });
});

describe('a Node program using threaded wasm', () => {
  it('exits by itself when its work is done (the idle pool threads do not keep it alive)', () => {
    const script = new URL('./fixtures/threaded-exit.ts', import.meta.url).pathname;
    const r = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', timeout: 60_000 });
    expect(r.signal).toBeNull(); // not killed by the timeout
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(realCores > 1 ? /threads 2 value 64/ : /threads 1 value 64/);
  });
});
