/**
 * The wasm backend's heap. tfjs-backend-wasm is a wasm32 build: its linear memory grows on demand up
 * to 4 GiB and never shrinks, and an allocation past that aborts the whole module (a ViT-S
 * forward+backward at 224 px and batch 8 dies in `register_tensor`). Training code sizes its
 * micro-batches against {@link WASM_HEAP_LIMIT_BYTES} (see `pickMicroBatchSize`).
 */

import * as tf from '@tensorflow/tfjs';

/**
 * The most bytes the wasm32 heap can hold: Emscripten's `getHeapMax()` in tfjs-backend-wasm 4.22
 * (4 GiB less one 64 KiB page).
 */
export const WASM_HEAP_LIMIT_BYTES = 4294901760;

/** A snapshot of the wasm heap. */
export interface WasmHeapStats {
  /** Bytes the heap has grown to (it never shrinks). */
  heapBytes: number;
  /** The most it can grow to ({@link WASM_HEAP_LIMIT_BYTES}). */
  limitBytes: number;
  /** Bytes held by live tfjs tensors (`tf.memory().numBytes`). */
  tensorBytes: number;
}

interface HeapOwner {
  wasm?: { HEAPU8?: Uint8Array };
}

/**
 * The wasm heap's current size and limit, or undefined when the wasm backend is not initialised.
 * Never initialises a backend itself.
 */
export function wasmHeapStats(): WasmHeapStats | undefined {
  const registry = (tf.engine() as unknown as { registry: Record<string, unknown> }).registry;
  const backend = registry.wasm as HeapOwner | undefined;
  const heap = backend?.wasm?.HEAPU8;
  if (!heap) return undefined;
  return {
    heapBytes: heap.buffer.byteLength,
    limitBytes: WASM_HEAP_LIMIT_BYTES,
    tensorBytes: tf.memory().numBytes,
  };
}
