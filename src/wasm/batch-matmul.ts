/**
 * A faster `BatchMatMul` kernel for the tfjs wasm backend.
 *
 * Stock `@tensorflow/tfjs-backend-wasm` 4.22 sends a product to XNNPACK only when neither operand is
 * transposed and both have batch 1; every other case (every matmul gradient, which transposes one
 * operand; every batched attention product) runs a blocked scalar loop that is 20-50x slower.
 *
 * The kernel registered here reaches XNNPACK for those cases too, through the backend's own C++
 * entry point (the same one the stock kernel calls), by rearranging the call:
 * - a transposed operand is first transposed explicitly with the backend's `Transpose` kernel (a
 *   copy of O(rows x cols), small next to the O(M x K x N) product);
 * - when the right operand has batch 1 (a weight matrix), the left operand's batch is folded into its
 *   rows: one XNNPACK call of `[batch * M, K] x [K, N]`;
 * - otherwise one XNNPACK call per batch item, on views into the batched buffers (extra tensor ids
 *   registered on offsets of the same heap memory, so nothing is copied);
 * - a weight gradient `x^T dy` (2-D, left operand transposed) with many rows is summed over slices of
 *   rows, each transposed and packed while in cache (see {@link FastBatchMatMulOptions.transposedAChunkRows}).
 * Products too small to amortise XNNPACK's per-call set-up (packing the right operand) stay on the
 * stock kernel, as do cases the stock kernel handles specially (non-float32 inputs, general batch
 * broadcasting).
 *
 * Results agree with the stock kernel up to float32 summation order (tested to 1e-5 of the largest
 * magnitude, gradients included). Everything goes through tfjs's public `registerKernel` API and is
 * undone by {@link unregisterFastBatchMatMul}.
 */

import * as tf from '@tensorflow/tfjs';
import {
  cBatchMatMul,
  heapF32,
  product,
  registerView,
  replaceWasmKernel,
  restoreWasmKernel,
  shapeBytes,
  transposeInto,
  type WasmBackendInternals,
} from './internals.js';

/** Options of {@link registerFastBatchMatMul}. */
export interface FastBatchMatMulOptions {
  /**
   * Products with fewer multiply-adds per batch item (M x K x N) than this stay on the stock loop,
   * whose cost is lower than XNNPACK's per-call set-up there. Default {@link DEFAULT_MIN_XNNPACK_MACS}.
   */
  minMacsPerItem?: number;
  /**
   * A product `A^T B` of plain 2-D operands (every weight gradient `x^T dy`) whose shared dimension K is
   * longer than this is computed in slices of this many rows of A and B, summed: each slice of A is
   * transposed and each slice of B packed by XNNPACK while it is in cache (measured 30% faster on
   * `[10240, 384]^T [10240, 256]`). Default {@link DEFAULT_TRANSPOSED_A_CHUNK_ROWS}.
   */
  transposedAChunkRows?: number;
}

/** Default of {@link FastBatchMatMulOptions.transposedAChunkRows}. */
export const DEFAULT_TRANSPOSED_A_CHUNK_ROWS = 1024;

/**
 * Default of {@link FastBatchMatMulOptions.minMacsPerItem}. Measured on this backend: below about
 * 8^3 multiply-adds the loop and XNNPACK cost the same (microseconds); above, XNNPACK wins by 10x+.
 */
export const DEFAULT_MIN_XNNPACK_MACS = 512;

interface Registration {
  stock: tf.KernelConfig;
  options: Required<FastBatchMatMulOptions>;
}

let registration: Registration | undefined;

/** Counts of how the fast kernel routed its calls since registration (see {@link fastBatchMatMulStats}). */
export interface FastBatchMatMulStats {
  /** Products computed by XNNPACK, folded into one call. */
  folded: number;
  /** Products computed by XNNPACK, one call per batch item. */
  perItem: number;
  /** Products `A^T B` with a long shared dimension, computed by XNNPACK in row slices (see the options). */
  chunked: number;
  /** Products left to the stock kernel (small, non-float32, general broadcasting). */
  stock: number;
}

const stats: FastBatchMatMulStats = { folded: 0, perItem: 0, chunked: 0, stock: 0 };

/** How the fast kernel routed its calls since it was last registered (a copy). */
export function fastBatchMatMulStats(): FastBatchMatMulStats {
  return { ...stats };
}

function transposeLastTwo(
  backend: WasmBackendInternals,
  x: tf.TensorInfo,
  batch: number,
  rows: number,
  cols: number,
): tf.TensorInfo {
  const transposeKernel = tf.getKernel('Transpose', 'wasm');
  if (!transposeKernel) throw new Error('mrn: the wasm backend has no Transpose kernel');
  return transposeKernel.kernelFunc({
    inputs: { x: { dataId: x.dataId, shape: [batch, rows, cols], dtype: x.dtype } },
    backend: backend as unknown as tf.KernelBackend,
    attrs: { perm: [0, 2, 1] },
  }) as tf.TensorInfo;
}

/**
 * `A^T B` for A `[k, m]` and B `[k, n]` in slices of `chunk` rows: `sum_c A_c^T B_c`. Each slice of A
 * is transposed into a scratch buffer (rows of A are contiguous, so no copy is needed to reach them),
 * B's slice is a view; XNNPACK writes the first slice's product into the output and later ones into a
 * scratch matrix that is added on.
 */
function transposedAInChunks(
  backend: WasmBackendInternals,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  m: number,
  k: number,
  n: number,
  chunk: number,
): tf.TensorInfo {
  const out = backend.makeOutput([m, n], 'float32');
  const slice = backend.makeOutput([m, chunk], 'float32');
  const partial = backend.makeOutput([m, n], 'float32');
  try {
    const aData = backend.dataIdMap.get(a.dataId);
    const bData = backend.dataIdMap.get(b.dataId);
    const outData = backend.dataIdMap.get(out.dataId);
    const sliceData = backend.dataIdMap.get(slice.dataId);
    const partialData = backend.dataIdMap.get(partial.dataId);
    const call = cBatchMatMul(backend);
    for (let k0 = 0; k0 < k; k0 += chunk) {
      const rows = Math.min(chunk, k - k0);
      transposeInto(heapF32(backend), aData.memoryOffset / 4 + k0 * m, rows, m, sliceData.memoryOffset / 4);
      const aId = registerView(backend, sliceData, 0, m * rows);
      const bId = registerView(backend, bData, k0 * n, rows * n);
      try {
        call(
          aId,
          shapeBytes([1, m, rows]),
          3,
          bId,
          shapeBytes([1, rows, n]),
          3,
          false,
          false,
          k0 === 0 ? outData.id : partialData.id,
        );
      } finally {
        backend.wasm.tfjs.disposeData(aId);
        backend.wasm.tfjs.disposeData(bId);
      }
      if (k0 > 0) {
        // Re-read the heap: creating the XNNPACK operator may have grown it.
        const heapAfter = heapF32(backend);
        const o = outData.memoryOffset / 4;
        const p = partialData.memoryOffset / 4;
        for (let i = 0; i < m * n; i++) heapAfter[o + i] += heapAfter[p + i]!;
      }
    }
  } finally {
    backend.disposeData(slice.dataId);
    backend.disposeData(partial.dataId);
  }
  return out;
}

function fastBatchMatMul(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}): tf.TensorInfo {
  const reg = registration;
  if (!reg) throw new Error('mrn: fast BatchMatMul called while unregistered');
  const stockKernel = reg.stock.kernelFunc as (a: typeof args) => tf.TensorInfo;
  const stock = (a: typeof args): tf.TensorInfo => {
    stats.stock++;
    return stockKernel(a);
  };
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const transposeA = Boolean(args.attrs?.transposeA);
  const transposeB = Boolean(args.attrs?.transposeB);
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || a.shape.length < 2 || b.shape.length < 2) {
    return stock(args);
  }
  const { m, k, kB, n, batchA, batchB } = productDims(a, b, transposeA, transposeB);
  // Mismatched inner sizes: let the stock kernel raise its usual error. General broadcasting of
  // batch dims (neither batch 1, sizes differ) is left to it too.
  if (k !== kB || (batchA !== batchB && batchA !== 1 && batchB !== 1)) return stock(args);
  if (m * k * n < reg.options.minMacsPerItem || m * k * n === 0) return stock(args);

  const backend = args.backend as WasmBackendInternals;
  const outShape = [
    ...tf.broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2)),
    m,
    n,
  ];
  if (transposeA && !transposeB && batchA === 1 && batchB === 1 && k > reg.options.transposedAChunkRows) {
    stats.chunked++;
    return {
      ...transposedAInChunks(backend, a, b, m, k, n, reg.options.transposedAChunkRows),
      shape: outShape,
    };
  }
  const batch = Math.max(batchA, batchB);
  const temps: tf.TensorInfo[] = [];
  const aPlain = transposeA ? transposeLastTwo(backend, a, batchA, k, m) : a;
  if (transposeA) temps.push(aPlain);
  const bPlain = transposeB ? transposeLastTwo(backend, b, batchB, n, k) : b;
  if (transposeB) temps.push(bPlain);

  const out = backend.makeOutput([batch, m, n], 'float32');
  try {
    xnnpackBatchMatMul(backend, aPlain, bPlain, out, { batch, batchA, batchB, m, k, n });
  } finally {
    for (const t of temps) backend.disposeData(t.dataId);
  }
  return { dataId: out.dataId, shape: outShape, dtype: 'float32' };
}

/** M, K and N of `op(a) x op(b)`, the K that `b` brings, and each operand's batch (leading dims). */
function productDims(
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  transposeA: boolean,
  transposeB: boolean,
): { m: number; k: number; kB: number; n: number; batchA: number; batchB: number } {
  const aRank = a.shape.length;
  const bRank = b.shape.length;
  return {
    m: transposeA ? a.shape[aRank - 1]! : a.shape[aRank - 2]!,
    k: transposeA ? a.shape[aRank - 2]! : a.shape[aRank - 1]!,
    kB: transposeB ? b.shape[bRank - 1]! : b.shape[bRank - 2]!,
    n: transposeB ? b.shape[bRank - 2]! : b.shape[bRank - 1]!,
    batchA: product(a.shape.slice(0, -2)),
    batchB: product(b.shape.slice(0, -2)),
  };
}

/**
 * `a x b` into `out` (`[batch, M, N]`) through XNNPACK, both operands untransposed: one call with the
 * left batch folded into rows when `b` has batch 1, else one call per batch item on views.
 */
function xnnpackBatchMatMul(
  backend: WasmBackendInternals,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  out: tf.TensorInfo,
  d: { batch: number; batchA: number; batchB: number; m: number; k: number; n: number },
): void {
  const { batch, batchA, batchB, m, k, n } = d;
  const call = cBatchMatMul(backend);
  const aData = backend.dataIdMap.get(a.dataId);
  const bData = backend.dataIdMap.get(b.dataId);
  const outData = backend.dataIdMap.get(out.dataId);
  if (batchB === 1) {
    // Weights on the right: fold the left batch into rows, one [batch*M, K] x [K, N] product.
    call(
      aData.id,
      shapeBytes([1, batchA * m, k]),
      3,
      bData.id,
      shapeBytes([1, k, n]),
      3,
      false,
      false,
      outData.id,
    );
    stats.folded++;
    return;
  }
  stats.perItem++;
  const aShape = shapeBytes([1, m, k]);
  const bShape = shapeBytes([1, k, n]);
  for (let i = 0; i < batch; i++) {
    const aId = batchA === 1 ? aData.id : registerView(backend, aData, i * m * k, m * k);
    const bId = registerView(backend, bData, i * k * n, k * n);
    const outId = registerView(backend, outData, i * m * n, m * n);
    try {
      call(aId, aShape, 3, bId, bShape, 3, false, false, outId);
    } finally {
      // Disposing a view id drops only the backend's bookkeeping (and the XNNPACK operator cached
      // on it); the heap memory belongs to the real tensor.
      if (aId !== aData.id) backend.wasm.tfjs.disposeData(aId);
      backend.wasm.tfjs.disposeData(bId);
      backend.wasm.tfjs.disposeData(outId);
    }
  }
}

/**
 * Replaces the wasm backend's `BatchMatMul` kernel with this module's XNNPACK routing (see the module notes).
 * Idempotent (a second call only updates the options). Works before or after the backend initialises.
 *
 * @returns false when there is no wasm `BatchMatMul` kernel to replace (tfjs-backend-wasm not loaded).
 */
export function registerFastBatchMatMul(options: FastBatchMatMulOptions = {}): boolean {
  const resolved: Required<FastBatchMatMulOptions> = {
    minMacsPerItem: options.minMacsPerItem ?? DEFAULT_MIN_XNNPACK_MACS,
    transposedAChunkRows: options.transposedAChunkRows ?? DEFAULT_TRANSPOSED_A_CHUNK_ROWS,
  };
  if (registration) {
    registration.options = resolved;
    return true;
  }
  Object.assign(stats, { folded: 0, perItem: 0, chunked: 0, stock: 0 });
  const stock = replaceWasmKernel('BatchMatMul', fastBatchMatMul as unknown as tf.KernelFunc);
  if (!stock) return false;
  registration = { stock, options: resolved };
  return true;
}

/** Puts the stock wasm `BatchMatMul` kernel back. No-op when {@link registerFastBatchMatMul} is not active. */
export function unregisterFastBatchMatMul(): void {
  const reg = registration;
  if (!reg) return;
  restoreWasmKernel(reg.stock);
  registration = undefined;
}

/** Whether the fast wasm `BatchMatMul` kernel is registered. */
export function isFastBatchMatMulRegistered(): boolean {
  return registration !== undefined;
}
