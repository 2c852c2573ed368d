/**
 * The error every browser stand-in of a Node-only function throws (see build/browser-substitutes.ts):
 * an `E_NODE_ONLY` {@link MrnError} that names the function and says what to use in a browser.
 */

import { MrnError } from '../errors.js';

/**
 * Builds the `E_NODE_ONLY` error for `fn` (e.g. `'fileSystemIO'` or `'fs.readFile'`).
 *
 * @param fn the Node-only function that was called.
 * @param instead what to do in a browser instead. Default: pass the file's bytes.
 */
export function nodeOnlyError(
  fn: string,
  instead = 'pass the bytes instead (readBytes: ArrayBuffer, File, fetch)',
): MrnError {
  return new MrnError(
    'E_NODE_ONLY',
    `${fn} is Node-only (it needs the file system or the process); in mrn's browser build ${instead}`,
    { details: { function: fn } },
  );
}

/**
 * A module namespace whose every function throws {@link nodeOnlyError} naming `module.function`: the
 * browser stand-in of a Node built-in that mrn only uses for files and processes.
 *
 * @param module the built-in's name, e.g. `'fs'`.
 * @param names the functions the stand-in exports.
 */
export function nodeOnlyModule<const N extends string>(
  module: string,
  names: readonly N[],
): Record<N, (...args: unknown[]) => never> {
  const out = {} as Record<N, (...args: unknown[]) => never>;
  for (const name of names) {
    out[name] = () => {
      throw nodeOnlyError(`${module}.${name}`);
    };
  }
  return out;
}
