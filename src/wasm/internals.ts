/**
 * The parts of tfjs-backend-wasm 4.22's `BackendWasm` that mrn's re-registered wasm kernels use
 * (./batch-matmul.ts, ./sum.ts, ./identity.ts), typed once, and the helpers they share: the
 * backend's C++ `BatchMatMul` entry point (which reaches XNNPACK for plain, batch-1 products) and
 * tensor ids registered on views into existing heap memory.
 */

import * as tf from '@tensorflow/tfjs';

/** What the backend records per tensor buffer. */
export interface WasmTensorData {
  id: number;
  memoryOffset: number;
  refCount: number;
}

/** The parts of tfjs-backend-wasm's `BackendWasm` (4.22) mrn's kernels use. */
export interface WasmBackendInternals {
  wasm: {
    cwrap(name: string, ret: null, args: string[]): (...args: unknown[]) => void;
    HEAPU8: Uint8Array;
    tfjs: {
      registerTensor(id: number, size: number, memoryOffset: number): void;
      disposeData(id: number): void;
    };
  };
  dataIdMap: { get(dataId: object): WasmTensorData };
  dataIdNextNumber: number;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  disposeData(dataId: object, force?: boolean): boolean;
  incRef(dataId: object): void;
}

/** The C++ `BatchMatMul` entry point, as the stock kernel cwraps it. */
export type CBatchMatMul = (
  aId: number,
  aShape: Uint8Array,
  aRank: number,
  bId: number,
  bShape: Uint8Array,
  bRank: number,
  transposeA: boolean,
  transposeB: boolean,
  outId: number,
) => void;

const cEntryPoints = new WeakMap<object, CBatchMatMul>();

/**
 * The backend's C++ `BatchMatMul`. With `transposeA = transposeB = false` and both operands of batch
 * 1 it runs an XNNPACK fully-connected operator (the right operand packed as its weights, cached
 * under the right operand's tensor id until that id is disposed); otherwise a scalar loop.
 */
export function cBatchMatMul(backend: WasmBackendInternals): CBatchMatMul {
  let fn = cEntryPoints.get(backend);
  if (!fn) {
    // Same signature the stock kernel cwraps (tfjs-backend-wasm/src/kernels/BatchMatMul.ts).
    fn = backend.wasm.cwrap('BatchMatMul', null, [
      'number',
      'array',
      'number',
      'number',
      'array',
      'number',
      'number',
      'number',
      'number',
    ]) as CBatchMatMul;
    cEntryPoints.set(backend, fn);
  }
  return fn;
}

/** A shape as the bytes of an Int32Array (how the C++ entry points take shapes). */
export function shapeBytes(shape: number[]): Uint8Array {
  return new Uint8Array(new Int32Array(shape).buffer);
}

/** The product of `dims` (1 for none). */
export function product(dims: number[]): number {
  return dims.reduce((p, d) => p * d, 1);
}

/**
 * A tensor id registered on `elements` floats of heap memory starting `elementOffset` into `data`.
 * Dispose it with `backend.wasm.tfjs.disposeData(id)`: that drops only the backend's bookkeeping (and
 * any XNNPACK operator cached under the id); the memory belongs to the real tensor.
 */
export function registerView(
  backend: WasmBackendInternals,
  data: WasmTensorData,
  elementOffset: number,
  elements: number,
): number {
  const id = backend.dataIdNextNumber++;
  backend.wasm.tfjs.registerTensor(id, elements, data.memoryOffset + elementOffset * 4);
  return id;
}

/** The heap as float32 (read it after every allocation: growing the heap replaces the buffer). */
export function heapF32(backend: WasmBackendInternals): Float32Array {
  return new Float32Array(backend.wasm.HEAPU8.buffer);
}

/**
 * Writes the transpose of the `rows x cols` float32 matrix at heap index `src` to heap index `dst`
 * (`cols x rows`), in 8 x 8 tiles so reads and writes stay in cache. Measured faster than the
 * backend's generic `Transpose` kernel on tall matrices.
 */
export function transposeInto(
  heap: Float32Array,
  src: number,
  rows: number,
  cols: number,
  dst: number,
): void {
  const tile = 8;
  for (let i0 = 0; i0 < rows; i0 += tile) {
    const i1 = Math.min(rows, i0 + tile);
    for (let j0 = 0; j0 < cols; j0 += tile) {
      const j1 = Math.min(cols, j0 + tile);
      for (let i = i0; i < i1; i++) {
        let from = src + i * cols + j0;
        let to = dst + j0 * rows + i;
        for (let j = j0; j < j1; j++, from++, to += rows) heap[to] = heap[from]!;
      }
    }
  }
}

/**
 * Replaces the wasm backend's kernel `kernelName` with `kernelFunc` through tfjs's public kernel
 * registry, keeping the stock set-up function: it cwraps the C++ entry points the stock path (which
 * the replacement still calls for the cases it leaves alone) needs when the backend initialises.
 *
 * @returns the stock kernel's config, to restore with {@link restoreWasmKernel}; `undefined` when
 *   there is no such wasm kernel (tfjs-backend-wasm not loaded).
 */
export function replaceWasmKernel(
  kernelName: string,
  kernelFunc: tf.KernelFunc,
): tf.KernelConfig | undefined {
  const stock = tf.getKernel(kernelName, 'wasm');
  if (!stock) return undefined;
  tf.unregisterKernel(kernelName, 'wasm');
  tf.registerKernel({ kernelName, backendName: 'wasm', setupFunc: stock.setupFunc, kernelFunc });
  return stock;
}

/** Puts back a stock wasm kernel that {@link replaceWasmKernel} replaced. */
export function restoreWasmKernel(stock: tf.KernelConfig): void {
  tf.unregisterKernel(stock.kernelName, 'wasm');
  tf.registerKernel(stock);
}
