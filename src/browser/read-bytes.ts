/**
 * Bytes from whatever a page has: an `ArrayBuffer` or typed array, a `File`/`Blob` (a file input or a
 * dropped folder), a `fetch` `Response`, or a URL to fetch. The browser build reads every file
 * (NIfTI, safetensors, checkpoints) through this instead of a path.
 */

import { MrnError } from '../errors.js';

/** Anything {@link readBytes} turns into bytes. */
export type BytesSource = ArrayBuffer | ArrayBufferView | Blob | Response | string | URL;

/**
 * Reads `source` into a `Uint8Array`: typed arrays are viewed without a copy, `Blob`s (and `File`s)
 * read whole, `Response`s consumed, strings and URLs fetched (relative to the page).
 *
 * @throws MrnError `E_FILE_NOT_FOUND` for a fetch answered 404, `E_IO` for any other failed fetch.
 */
export async function readBytes(source: BytesSource): Promise<Uint8Array> {
  if (source instanceof Uint8Array) return source;
  if (source instanceof ArrayBuffer) return new Uint8Array(source);
  if (ArrayBuffer.isView(source)) return new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
  if (typeof Blob !== 'undefined' && source instanceof Blob)
    return new Uint8Array(await source.arrayBuffer());
  let response: Response;
  const url = typeof source === 'string' || source instanceof URL ? String(source) : undefined;
  if (url !== undefined) {
    try {
      response = await fetch(url);
    } catch (cause) {
      throw new MrnError('E_IO', `cannot fetch ${url}: ${(cause as Error).message}`, { file: url, cause });
    }
  } else {
    response = source as Response;
  }
  const name = url ?? response.url;
  if (!response.ok) {
    throw new MrnError(
      response.status === 404 ? 'E_FILE_NOT_FOUND' : 'E_IO',
      `fetch of ${name} answered ${response.status}`,
      {
        file: name,
      },
    );
  }
  return new Uint8Array(await response.arrayBuffer());
}
