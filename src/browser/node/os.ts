/**
 * Browser stand-in of `node:os` (see build/browser-substitutes.ts): what mrn asks of `os` that has a
 * browser answer (byte order, core count) is answered; the rest throws `E_NODE_ONLY`.
 */

import { nodeOnlyError } from '../node-only.js';

/** The host's byte order, as `os.endianness()` reports it. */
export function endianness(): 'LE' | 'BE' {
  return new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 'LE' : 'BE';
}

/** One entry per logical core (`navigator.hardwareConcurrency`), as `os.cpus()` has; only the count is meaningful. */
export function cpus(): { model: string }[] {
  const n =
    (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1;
  return Array.from({ length: n }, () => ({ model: 'browser' }));
}

/** Throws `E_NODE_ONLY`: the browser has no temporary folder. */
export function tmpdir(): never {
  throw nodeOnlyError('os.tmpdir');
}

/** Throws `E_NODE_ONLY`. */
export function totalmem(): never {
  throw nodeOnlyError('os.totalmem');
}

/** Throws `E_NODE_ONLY`. */
export function hostname(): never {
  throw nodeOnlyError('os.hostname');
}

export default { endianness, cpus, tmpdir, totalmem, hostname };
