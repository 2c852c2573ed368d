import * as tf from '@tensorflow/tfjs';
import { afterEach, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend.js';
import { MrnError } from '../../src/errors.js';

const g = globalThis as { navigator?: { gpu?: unknown } };
const hadGpu = g.navigator !== undefined && 'gpu' in g.navigator;

afterEach(() => {
  // Leave no fake navigator.gpu behind for the next test.
  if (!hadGpu && g.navigator && 'gpu' in g.navigator) delete g.navigator.gpu;
});

describe("selectBackend({ backend: 'webgpu' }) in Node", () => {
  it('fails with E_BACKEND naming the missing GPU adapter when WebGPU finds none', async () => {
    const fake = { requestAdapter: async () => null };
    if (g.navigator === undefined) {
      Object.defineProperty(globalThis, 'navigator', { value: {}, configurable: true, writable: true });
    }
    Object.defineProperty(g.navigator!, 'gpu', { value: fake, configurable: true, writable: true });
    const err = await selectBackend({ backend: 'webgpu' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MrnError);
    expect((err as MrnError).code).toBe('E_BACKEND');
    expect((err as MrnError).message).toMatch(/backend 'webgpu' could not be loaded: .*no GPU adapter/);
  });

  it("with Dawn (the webgpu package): runs on the GPU's adapter, or fails with E_BACKEND saying there is none", async () => {
    delete g.navigator?.gpu;
    const outcome = await selectBackend({ backend: 'webgpu' }).catch((e: unknown) => e);
    if (outcome instanceof Error) {
      expect(outcome).toBeInstanceOf(MrnError);
      expect((outcome as MrnError).code).toBe('E_BACKEND');
      expect(outcome.message).toMatch(/no GPU adapter: the webgpu package \(Dawn\) found no GPU/);
      return;
    }
    // A machine with a GPU: the backend is live and a product agrees with the cpu backend.
    expect(tf.getBackend()).toBe('webgpu');
    const a = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]);
    const b = tf.tensor2d([1, -1, 0.5, 2, -2, 0], [3, 2]);
    expect(Array.from(await tf.matMul(a, b).data())).toEqual([-4.5, 3, -9, 6]);
  });
});
