/**
 * A checksummed envelope for files a later run reads back (cache entries): magic, payload length and
 * the payload's SHA-256 in front of the payload. Reading verifies all three, so a torn, truncated or
 * bit-flipped file is detected and never trusted.
 *
 * Layout: `MRNSUM1\0` (8 bytes) | payload length (uint64 LE) | SHA-256 of the payload (32 bytes) | payload.
 */

import { createHash } from 'node:crypto';
import { MrnError } from '../errors.js';

const MAGIC = new TextEncoder().encode('MRNSUM1\0');
/** Bytes in front of the payload. */
export const CHECKSUM_HEADER_BYTES = 48;

function sha256(bytes: Uint8Array): Uint8Array {
  return createHash('sha256').update(bytes).digest();
}

/** Wraps `payload` in the checksummed envelope. */
export function encodeChecksummed(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(CHECKSUM_HEADER_BYTES + payload.byteLength);
  out.set(MAGIC, 0);
  new DataView(out.buffer).setBigUint64(8, BigInt(payload.byteLength), true);
  out.set(sha256(payload), 16);
  out.set(payload, CHECKSUM_HEADER_BYTES);
  return out;
}

/**
 * Returns the payload of a checksummed envelope (a view into `bytes`). Throws `E_CACHE_CORRUPT`
 * naming `file` when the magic, the length or the checksum do not match.
 */
export function decodeChecksummed(bytes: Uint8Array, file: string): Uint8Array {
  const corrupt = (why: string) =>
    new MrnError('E_CACHE_CORRUPT', `corrupt file: ${why}`, { file, details: { bytes: bytes.byteLength } });
  if (bytes.byteLength < CHECKSUM_HEADER_BYTES)
    throw corrupt(`${bytes.byteLength} bytes, shorter than its header`);
  for (let i = 0; i < MAGIC.length; i++) if (bytes[i] !== MAGIC[i]) throw corrupt('bad magic');
  const declared = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(8, true);
  if (declared !== BigInt(bytes.byteLength - CHECKSUM_HEADER_BYTES)) {
    throw corrupt(
      `header declares ${declared} payload bytes, the file holds ${bytes.byteLength - CHECKSUM_HEADER_BYTES}`,
    );
  }
  const payload = bytes.subarray(CHECKSUM_HEADER_BYTES);
  const expected = bytes.subarray(16, 48);
  const actual = sha256(payload);
  for (let i = 0; i < 32; i++) if (expected[i] !== actual[i]) throw corrupt('checksum mismatch');
  return payload;
}
