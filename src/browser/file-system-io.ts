/**
 * Browser stand-in of src/io/file-system-io.ts (see build/browser-substitutes.ts): same exports;
 * `fileSystemIO` throws `E_NODE_ONLY`. In a browser, save and load a model through any tfjs
 * `IOHandler` (`tf.io.browserDownloads`, `tf.io.http`, {@link checkpointIO}).
 */

import type * as tf from '@tensorflow/tfjs';
import { nodeOnlyError } from './node-only.js';

export type { FileSystemIOOptions } from '../io/file-system-io.js';

/** Concatenates tfjs weight data (one buffer or several) into one ArrayBuffer. */
export function concatWeightData(data: ArrayBuffer | ArrayBuffer[] | undefined): ArrayBuffer {
  if (data === undefined) return new ArrayBuffer(0);
  if (!Array.isArray(data)) return data;
  const total = data.reduce((n, b) => n + b.byteLength, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const b of data) {
    out.set(new Uint8Array(b), offset);
    offset += b.byteLength;
  }
  return out.buffer;
}

/** Throws `E_NODE_ONLY`: a browser has no folders to save to (use a tfjs `IOHandler` or {@link checkpointIO}). */
export function fileSystemIO(_dir: string, _options?: unknown): tf.io.IOHandler {
  throw nodeOnlyError(
    'fileSystemIO',
    'save and load through a tfjs IOHandler (checkpointIO, tf.io.http, tf.io.browserDownloads)',
  );
}
