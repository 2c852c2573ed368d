import * as tf from '@tensorflow/tfjs';
import { afterEach, describe, expect, it } from 'vitest';
import { isPackageInstalled, MrnError, selectBackend } from '../src/index.js';

describe('selectBackend', () => {
  const saved = process.env.MRN_BACKEND;
  afterEach(() => {
    if (saved === undefined) delete process.env.MRN_BACKEND;
    else process.env.MRN_BACKEND = saved;
  });

  it('chooses wasm here, reporting its real thread count and why the native ones were skipped', async () => {
    delete process.env.MRN_BACKEND;
    const report = await selectBackend();
    expect(report.backend).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(report.threads).toBeGreaterThanOrEqual(1);
    expect(typeof report.simd).toBe('boolean');
    // tfjs-node(-gpu) cannot install on this machine: the not-installed path.
    expect(isPackageInstalled('@tensorflow/tfjs-node')).toBe(false);
    expect(report.skipped.map((s) => [s.pkg, s.status])).toEqual([
      ['@tensorflow/tfjs-node-gpu', 'not-installed'],
      ['@tensorflow/tfjs-node', 'not-installed'],
    ]);
    const x = tf.matMul(tf.tensor2d([[1, 2]]), tf.tensor2d([[3], [4]]));
    expect(await x.data()).toEqual(new Float32Array([11]));
    x.dispose();
  });

  it('honours MRN_BACKEND=cpu', async () => {
    process.env.MRN_BACKEND = 'cpu';
    const report = await selectBackend();
    expect(report.backend).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect(report.threads).toBe(1);
    expect(report.skipped.every((s) => s.status === 'not-requested')).toBe(true);
  });

  it('forcing a backend that is not installed fails clearly', async () => {
    process.env.MRN_BACKEND = 'tensorflow';
    const err = await selectBackend().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MrnError);
    expect((err as MrnError).code).toBe('E_BACKEND');
    expect((err as MrnError).message).toMatch(/tfjs-node-gpu is not installed.*tfjs-node is not installed/);
  });

  it('rejects an unknown MRN_BACKEND value', async () => {
    process.env.MRN_BACKEND = 'opengl';
    await expect(selectBackend()).rejects.toThrow(/MRN_BACKEND must be one of/);
  });

  it('options.backend overrides the environment', async () => {
    process.env.MRN_BACKEND = 'tensorflow';
    const report = await selectBackend({ backend: 'wasm' });
    expect(report.backend).toBe('wasm');
  });
});
