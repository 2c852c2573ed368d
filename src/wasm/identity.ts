/**
 * A copy-free `Identity` kernel for the tfjs wasm backend.
 *
 * Stock `@tensorflow/tfjs-backend-wasm` 4.22 implements `Identity` (i.e. `tf.clone`) as a full copy of
 * the buffer. The tfjs engine clones every tensor a gradient needs when the op runs under a tape
 * (`saveTensorsForBackwardMode`), so a training step copies most of its activations once more: over
 * 2,000 copies per MultiRoiNet step, and the copies raise the heap peak. tfjs tensors are immutable
 * (a `Variable.assign` swaps buffers, it never writes into one), so a clone can share the buffer with a
 * reference count, which is what the cpu backend's `Identity` does and what the wasm backend's own
 * `Reshape` does. String tensors stay on the stock kernel.
 *
 * Registered through tfjs's public `registerKernel` API and undone by {@link unregisterSharedIdentity}.
 */

import * as tf from '@tensorflow/tfjs';
import { replaceWasmKernel, restoreWasmKernel, type WasmBackendInternals } from './internals.js';

let stock: tf.KernelConfig | undefined;
let shared = 0;

/** How many clones shared their input's buffer since {@link registerSharedIdentity}. */
export function sharedIdentityCount(): number {
  return shared;
}

function sharedIdentity(args: { inputs: tf.NamedTensorInfoMap; backend: unknown }): tf.TensorInfo {
  const { x } = args.inputs as { x: tf.TensorInfo };
  if (x.dtype === 'string' || x.dtype === 'complex64') {
    return (stock!.kernelFunc as (a: typeof args) => tf.TensorInfo)(args);
  }
  shared++;
  (args.backend as WasmBackendInternals).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

/**
 * Replaces the wasm backend's `Identity` kernel with a reference-counted one (see the module notes).
 * Idempotent. Works before or after the backend initialises.
 *
 * @returns false when there is no wasm `Identity` kernel to replace (tfjs-backend-wasm not loaded).
 */
export function registerSharedIdentity(): boolean {
  if (stock) return true;
  shared = 0;
  stock = replaceWasmKernel('Identity', sharedIdentity as unknown as tf.KernelFunc);
  return stock !== undefined;
}

/** Puts the stock (copying) wasm `Identity` kernel back. No-op when not registered. */
export function unregisterSharedIdentity(): void {
  if (!stock) return;
  restoreWasmKernel(stock);
  stock = undefined;
}

/** Whether the copy-free wasm `Identity` kernel is registered. */
export function isSharedIdentityRegistered(): boolean {
  return stock !== undefined;
}
