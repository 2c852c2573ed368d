/**
 * Browser stand-in of src/io/file-system-io.ts (see build/browser-substitutes.ts): same exports;
 * `fileSystemIO` throws `E_NODE_ONLY`. In a browser, save and load a model through any tfjs
 * `IOHandler` (`tf.io.browserDownloads`, `tf.io.http`, {@link checkpointIO}).
 */

import type * as tf from '@tensorflow/tfjs';
import { nodeOnlyError } from './node-only.js';

export type { FileSystemIOOptions } from '../io/file-system-io.js';
export { concatWeightData } from '../io/weight-data.js';

/** Throws `E_NODE_ONLY`: a browser has no folders to save to (use a tfjs `IOHandler` or {@link checkpointIO}). */
export function fileSystemIO(_dir: string, _options?: unknown): tf.io.IOHandler {
  throw nodeOnlyError(
    'fileSystemIO',
    'save and load through a tfjs IOHandler (checkpointIO, tf.io.http, tf.io.browserDownloads)',
  );
}
