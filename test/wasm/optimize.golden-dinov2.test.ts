/**
 * The DINOv2 golden checks (every reference fixture within 1e-4 of the official code) with mrn's wasm
 * optimisations on: the XNNPACK-routed BatchMatMul and the threaded build.
 */
import os from 'node:os';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { selectBackend } from '../../src/backend.js';
import { fastBatchMatMulStats } from '../../src/wasm/batch-matmul.js';
import { wasmThreadsInUse } from '../../src/wasm/threads.js';
import { GOLDEN_MODELS, goldenSuite } from '../layers/helpers/golden-suite.js';

describe('DINOv2 golden fixtures with optimizeWasm', () => {
  beforeAll(async () => {
    const report = await selectBackend({ backend: 'wasm', optimizeWasm: true });
    expect(report.wasmOptimization?.batchMatMul).toBe(true);
    if (os.cpus().length > 1) expect(report.threads).toBeGreaterThan(1);
  });

  // goldenSuite's own selectBackend({ backend: 'wasm' }) finds this backend already initialised
  // (threaded) and leaves the re-registered kernel in place.
  goldenSuite('wasm', GOLDEN_MODELS);

  afterAll(() => {
    // The attention products (batched, transposed) went through the new kernel, on threads.
    expect(fastBatchMatMulStats().perItem).toBeGreaterThan(0);
    if (os.cpus().length > 1) expect(wasmThreadsInUse().runningWorkers).toBeGreaterThan(0);
  });
});
