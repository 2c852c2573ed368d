/**
 * An `AddN` kernel for the tfjs webgpu backend that is correct for any number of inputs.
 *
 * Stock `@tensorflow/tfjs-backend-webgpu` 4.22 returns zeros from `AddN` with more than 7 inputs
 * (test/browser: 8, 16 and 33 fresh inputs on SwiftShader; its one shader binds every input, and the
 * WebGPU minimum of storage buffers per shader stage is 8). tfjs sums the gradients of a tensor used
 * many times with `AddN`, so a backward pass can meet it. This kernel adds at most {@link WEBGPU_ADD_N_GROUP} inputs per stock call, in
 * a tree, and frees the partial sums.
 *
 * Registered through tfjs's public kernel registry and undone by {@link unregisterWebgpuAddN}.
 */

import * as tf from '@tensorflow/tfjs';

/** Inputs the stock webgpu `AddN` adds in one call here (well under the 7 it gets right). */
export const WEBGPU_ADD_N_GROUP = 4;

let stock: tf.KernelConfig | undefined;

type StockFunc = (args: {
  inputs: tf.TensorInfo[];
  backend: unknown;
  attrs: tf.NamedAttrMap;
}) => tf.TensorInfo;

function groupedAddN(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}): tf.TensorInfo {
  const run = stock!.kernelFunc as unknown as StockFunc;
  const backend = args.backend as { disposeData(dataId: object): void };
  const attrs = args.attrs ?? {};
  let level = args.inputs as unknown as tf.TensorInfo[];
  const partial: tf.TensorInfo[] = [];
  while (level.length > WEBGPU_ADD_N_GROUP) {
    const next: tf.TensorInfo[] = [];
    for (let i = 0; i < level.length; i += WEBGPU_ADD_N_GROUP) {
      const group = level.slice(i, i + WEBGPU_ADD_N_GROUP);
      if (group.length === 1) {
        next.push(group[0]!);
        continue;
      }
      const sum = run({ inputs: group, backend, attrs });
      partial.push(sum);
      next.push(sum);
    }
    level = next;
  }
  const out = run({ inputs: level, backend, attrs });
  for (const p of partial) backend.disposeData(p.dataId);
  return out;
}

/**
 * Replaces the webgpu backend's `AddN` with the grouped one (see the module notes). Idempotent.
 *
 * @returns false when there is no webgpu `AddN` kernel to replace (tfjs-backend-webgpu not loaded).
 */
export function registerWebgpuAddN(): boolean {
  if (stock) return true;
  const found = tf.getKernel('AddN', 'webgpu');
  if (!found) return false;
  stock = found;
  tf.unregisterKernel('AddN', 'webgpu');
  tf.registerKernel({ ...found, kernelFunc: groupedAddN as unknown as tf.KernelFunc });
  return true;
}

/** Puts the stock webgpu `AddN` back. No-op when not registered. */
export function unregisterWebgpuAddN(): void {
  if (!stock) return;
  tf.unregisterKernel('AddN', 'webgpu');
  tf.registerKernel(stock);
  stock = undefined;
}

/** Whether the grouped webgpu `AddN` is registered. */
export function isWebgpuAddNRegistered(): boolean {
  return stock !== undefined;
}
