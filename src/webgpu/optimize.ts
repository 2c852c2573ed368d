/**
 * Fixes for the tfjs webgpu backend, applied by `selectBackend` whenever it picks webgpu (browser or
 * Node): kernels MRN needs that stock `@tensorflow/tfjs-backend-webgpu` 4.22 gets wrong, found by
 * test/browser and re-registered the way `optimizeWasmBackend` does it.
 */

import { registerWebgpuAddN } from './add-n.js';

/** What {@link optimizeWebgpuBackend} registered. */
export interface OptimizeWebgpuReport {
  /** `AddN` adds more than 7 inputs correctly (see `registerWebgpuAddN`). */
  addN: boolean;
}

/**
 * Registers mrn's webgpu kernel fixes. Call after `@tensorflow/tfjs-backend-webgpu` is imported;
 * idempotent. `selectBackend({ backend: 'webgpu' })` calls it.
 */
export function optimizeWebgpuBackend(): OptimizeWebgpuReport {
  return { addN: registerWebgpuAddN() };
}
