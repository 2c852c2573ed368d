/**
 * The wasm kernel re-registrations that make a training step's backward pass cheap (see the README,
 * "Fast wasm in Node"): a copy-free `Identity` (./identity.ts) and a `Sum` that reduces leading axes
 * without a transpose (./sum.ts). {@link optimizeWasmBackend} installs them; these functions turn them on and off
 * together (benchmarks compare both states in one process).
 */

import { registerSharedIdentity, unregisterSharedIdentity } from './identity.js';
import { type FastSumOptions, registerFastSum, unregisterFastSum } from './sum.js';

/** Which backward kernels {@link registerWasmBackwardKernels} installs. Every field defaults to true. */
export interface WasmBackwardKernelOptions {
  /** Copy-free `Identity` (clones share the buffer). */
  identity?: boolean;
  /** `Sum` over leading axes without a transpose. */
  sum?: boolean | FastSumOptions;
}

/** Which backward kernels are registered after {@link registerWasmBackwardKernels}. */
export interface WasmBackwardKernelReport {
  identity: boolean;
  sum: boolean;
}

/**
 * Registers the backward kernels asked for (all by default). A kernel turned off here is also
 * unregistered if it was on. Returns which are registered (false where tfjs-backend-wasm is not loaded).
 */
export function registerWasmBackwardKernels(
  options: WasmBackwardKernelOptions = {},
): WasmBackwardKernelReport {
  const identity = options.identity ?? true;
  const sum = options.sum ?? true;
  if (!identity) unregisterSharedIdentity();
  if (sum === false) unregisterFastSum();
  return {
    identity: identity ? registerSharedIdentity() : false,
    sum: sum === false ? false : registerFastSum(sum === true ? {} : sum),
  };
}

/** Puts the stock wasm kernels back for every backward kernel of {@link registerWasmBackwardKernels}. */
export function unregisterWasmBackwardKernels(): void {
  unregisterSharedIdentity();
  unregisterFastSum();
}
