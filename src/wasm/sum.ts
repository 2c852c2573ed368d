/**
 * A faster `Sum` kernel for the tfjs wasm backend, for reductions that do not end at the last axis.
 *
 * Stock `@tensorflow/tfjs-backend-wasm` 4.22 reduces only over trailing axes: any other reduction is
 * first transposed so the reduced axes come last (its generic transpose is slow on tall matrices), then
 * summed. Training hits exactly that case hundreds of times per step: the gradient of every bias and of
 * every broadcast add sums `dy` over the leading axes (`[tokens, width]` -> `[width]`). A reduction over
 * contiguous axes with kept axes after them, `out[o, i] = sum_r x[o, r, i]`, is done here in place on
 * the heap without a transpose: rows are added into a float64 accumulator in memory order (a 4x
 * speed-up on `[10240, 256]` -> `[256]`). Reductions over trailing axes (no transpose needed), over
 * non-contiguous axes, of small tensors or of non-float32 data stay on the stock kernel.
 *
 * Tried and dropped: the same reduction as a ones-vector product on XNNPACK. It is slower than the
 * stock kernel, because XNNPACK packs the whole input as the product's weights first.
 *
 * Results agree with the stock kernel up to float32 summation order (tested to 1e-5 of the largest
 * magnitude against stock wasm and the cpu backend, values and gradients). Registered through tfjs's
 * public `registerKernel` API and undone by {@link unregisterFastSum}.
 */

import * as tf from '@tensorflow/tfjs';
import {
  heapF32,
  product,
  replaceWasmKernel,
  restoreWasmKernel,
  type WasmBackendInternals,
} from './internals.js';

/** Options of {@link registerFastSum}. */
export interface FastSumOptions {
  /** Inputs with fewer elements than this stay on the stock kernel. Default {@link DEFAULT_MIN_FAST_SUM_ELEMENTS}. */
  minElements?: number;
}

/**
 * Default of {@link FastSumOptions.minElements}: below a few thousand elements the stock transpose
 * and loop take microseconds either way.
 */
export const DEFAULT_MIN_FAST_SUM_ELEMENTS = 4096;

/** Rows narrower than this stay on the stock kernel (measured: at 5 wide the loop is 2x slower). */
const MIN_ROW = 16;

/** Counts of how the fast `Sum` routed its calls since registration. */
export interface FastSumStats {
  /** Reductions computed by the row loop. */
  loop: number;
  /** Reductions left to the stock kernel. */
  stock: number;
}

interface Registration {
  stock: tf.KernelConfig;
  options: Required<FastSumOptions>;
}

let registration: Registration | undefined;
const stats: FastSumStats = { loop: 0, stock: 0 };

/** How the fast `Sum` routed its calls since it was last registered (a copy). */
export function fastSumStats(): FastSumStats {
  return { ...stats };
}

/**
 * The reduction as `[outer, reduced, inner]` when the axes are contiguous and followed by kept axes,
 * else null (a trailing or non-contiguous reduction: the stock kernel's cases).
 */
export function leadingReduction(shape: number[], axes: number[]): [number, number, number] | null {
  if (axes.length === 0) return null;
  const sorted = [...axes].sort((a, b) => a - b);
  for (let i = 1; i < sorted.length; i++) if (sorted[i] !== sorted[0]! + i) return null;
  const first = sorted[0]!;
  const last = sorted[sorted.length - 1]!;
  const inner = product(shape.slice(last + 1));
  if (inner === 1) return null;
  return [product(shape.slice(0, first)), product(shape.slice(first, last + 1)), inner];
}

function fastSum(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}): tf.TensorInfo {
  const reg = registration;
  if (!reg) throw new Error('mrn: fast Sum called while unregistered');
  const { x } = args.inputs as { x: tf.TensorInfo };
  const axis = (args.attrs?.axis ?? null) as number | number[] | null;
  const keepDims = Boolean(args.attrs?.keepDims);
  const axes = tf.util.parseAxisParam(axis ?? x.shape.map((_, i) => i), x.shape);
  const split = x.dtype === 'float32' ? leadingReduction(x.shape, axes) : null;
  const size = product(x.shape);
  // Narrow rows (a few classes) loop slower than the stock transpose-then-reduce.
  if (!split || split[1] === 1 || split[2] < MIN_ROW || size < reg.options.minElements) {
    stats.stock++;
    return (reg.stock.kernelFunc as (a: typeof args) => tf.TensorInfo)(args);
  }
  stats.loop++;
  const [outer, reduced, inner] = split;
  const backend = args.backend as WasmBackendInternals;
  const outShape = keepDims
    ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d))
    : x.shape.filter((_, i) => !axes.includes(i));
  const out = backend.makeOutput(outShape, 'float32');
  // After the allocation: a growing heap replaces the buffer.
  const heap = heapF32(backend);
  const src = backend.dataIdMap.get(x.dataId).memoryOffset / 4;
  const dst = backend.dataIdMap.get(out.dataId).memoryOffset / 4;
  sumMiddleAxis(heap, src, dst, outer, reduced, inner, new Float64Array(inner));
  return out;
}

/**
 * `out[o, i] = sum_r x[o, r, i]` over float32 heap memory, row by row (contiguous reads), accumulated
 * in float64 (as the cpu backend does).
 */
function sumMiddleAxis(
  heap: Float32Array,
  src: number,
  dst: number,
  outer: number,
  reduced: number,
  inner: number,
  acc: Float64Array,
): void {
  for (let o = 0; o < outer; o++) {
    acc.fill(0);
    let row = src + o * reduced * inner;
    for (let r = 0; r < reduced; r++, row += inner) {
      for (let i = 0; i < inner; i++) acc[i] += heap[row + i]!;
    }
    const base = dst + o * inner;
    for (let i = 0; i < inner; i++) heap[base + i] = acc[i]!;
  }
}

/**
 * Replaces the wasm backend's `Sum` kernel with one that reduces leading (or middle) axes without a
 * transpose (see the module notes). Idempotent (a second call only
 * updates the options). Works before or after the backend initialises.
 *
 * @returns false when there is no wasm `Sum` kernel to replace (tfjs-backend-wasm not loaded).
 */
export function registerFastSum(options: FastSumOptions = {}): boolean {
  const resolved: Required<FastSumOptions> = {
    minElements: options.minElements ?? DEFAULT_MIN_FAST_SUM_ELEMENTS,
  };
  if (registration) {
    registration.options = resolved;
    return true;
  }
  Object.assign(stats, { loop: 0, stock: 0 });
  const stock = replaceWasmKernel('Sum', fastSum as unknown as tf.KernelFunc);
  if (!stock) return false;
  registration = { stock, options: resolved };
  return true;
}

/** Puts the stock wasm `Sum` kernel back. No-op when {@link registerFastSum} is not active. */
export function unregisterFastSum(): void {
  const reg = registration;
  if (!reg) return;
  restoreWasmKernel(reg.stock);
  registration = undefined;
}

/** Whether the fast wasm `Sum` kernel is registered. */
export function isFastSumRegistered(): boolean {
  return registration !== undefined;
}
