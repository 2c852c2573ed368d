/**
 * Browser stand-in of `node:zlib` (see build/browser-substitutes.ts): the gzip and deflate calls mrn
 * makes (`.nii.gz` volumes), done by fflate (a dependency already) so gzipped NIfTI reads in a browser.
 * Errors carry the messages the callers test for a truncated stream.
 */

import {
  deflateSync as fflateDeflate,
  gunzipSync as fflateGunzip,
  gzipSync as fflateGzip,
  inflateSync as fflateInflate,
} from 'fflate';

/** Options mrn passes (`chunkSize` is a Node tuning knob without effect here; `level` 0-9). */
interface ZlibOptions {
  chunkSize?: number;
  level?: number;
}

type Level = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9;

function level(options?: ZlibOptions): { level?: Level } {
  return options?.level === undefined ? {} : { level: options.level as Level };
}

function nodeLikeError(e: unknown): Error {
  const message = (e as Error).message ?? String(e);
  // Node says "unexpected end of file" for a truncated stream; fflate says "unexpected EOF".
  const error = new Error(/unexpected EOF/i.test(message) ? 'unexpected end of file' : message);
  if (/unexpected EOF/i.test(message)) (error as Error & { code: string }).code = 'Z_BUF_ERROR';
  return error;
}

/** gunzip, as `zlib.gunzipSync`. */
export function gunzipSync(bytes: Uint8Array, _options?: ZlibOptions): Uint8Array {
  try {
    return fflateGunzip(bytes);
  } catch (e) {
    throw nodeLikeError(e);
  }
}

/** gzip, as `zlib.gzipSync`. */
export function gzipSync(bytes: Uint8Array, options?: ZlibOptions): Uint8Array {
  return fflateGzip(bytes, level(options));
}

/** zlib inflate, as `zlib.inflateSync`. */
export function inflateSync(bytes: Uint8Array, _options?: ZlibOptions): Uint8Array {
  try {
    return fflateInflate(bytes);
  } catch (e) {
    throw nodeLikeError(e);
  }
}

/** zlib deflate, as `zlib.deflateSync`. */
export function deflateSync(bytes: Uint8Array, options?: ZlibOptions): Uint8Array {
  return fflateDeflate(bytes, level(options));
}

export default { gunzipSync, gzipSync, inflateSync, deflateSync };
