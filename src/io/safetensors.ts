/**
 * Reading (and writing) the safetensors format: an 8-byte little-endian header length, a JSON header
 * mapping tensor names to `{ dtype, shape, data_offsets }`, then the raw little-endian tensor bytes.
 *
 * Two ways to read: {@link readSafetensors} reads the file once and hands out views into that one
 * buffer (F32/I32/... when aligned) or converted arrays (F16/BF16 become Float32Array), never a second
 * full copy; {@link iterateSafetensors} reads one tensor at a time from a file handle, so a loader can
 * convert and upload each tensor before reading the next (peak memory: one tensor, not the file).
 * Every header is validated before any tensor is touched: a header that lies about sizes, overlaps
 * tensors or leaves holes gives an `E_SAFETENSORS_INVALID` {@link MrnError} naming the file.
 */

import { open, readFile, stat } from 'node:fs/promises';
import os from 'node:os';
import { MrnError } from '../errors.js';
import { float16ToFloat32 } from './float16.js';

/** The safetensors dtypes mrn reads. */
export type SafetensorsDtype =
  | 'F64'
  | 'F32'
  | 'F16'
  | 'BF16'
  | 'I64'
  | 'I32'
  | 'I16'
  | 'I8'
  | 'U64'
  | 'U32'
  | 'U16'
  | 'U8'
  | 'BOOL';

/** The typed array a tensor's values come in (F16 and BF16 are widened to Float32Array). */
export type SafetensorsData =
  | Float64Array
  | Float32Array
  | BigInt64Array
  | BigUint64Array
  | Int32Array
  | Int16Array
  | Int8Array
  | Uint32Array
  | Uint16Array
  | Uint8Array;

/** One tensor read from a safetensors file. */
export interface SafetensorsTensor {
  /** The dtype stored in the file (F16/BF16 data is nevertheless returned as Float32Array). */
  dtype: SafetensorsDtype;
  /** The shape, outermost first (row-major, as PyTorch stores it). */
  shape: number[];
  /**
   * The values, row-major. F32, F64 and the integer types are views into the file buffer when their
   * offset is aligned (no copy); F16 and BF16 are converted to Float32Array; I64/U64 are BigInt arrays;
   * BOOL is a Uint8Array of 0/1.
   */
  data: SafetensorsData;
}

/** One header entry, before any data is read. */
export interface SafetensorsEntry {
  /** The tensor name. */
  name: string;
  /** The stored dtype. */
  dtype: SafetensorsDtype;
  /** The shape. */
  shape: number[];
  /** Byte offsets `[begin, end)` of the data, relative to the start of the data section. */
  dataOffsets: [number, number];
}

/** A parsed and validated safetensors header. */
export interface SafetensorsHeader {
  /** Tensors in file order (ascending data offset). */
  entries: SafetensorsEntry[];
  /** The optional `__metadata__` string map. */
  metadata: Record<string, string>;
  /** Absolute byte offset of the data section (8 + header length). */
  dataStart: number;
  /** Byte length of the data section. */
  dataLength: number;
}

/** Options of the safetensors readers. */
export interface ReadSafetensorsOptions {
  /** Labels errors when the source is bytes (default `'<bytes>'`). */
  name?: string;
  /** Only these tensors are returned (others are validated but not converted). Default: all. */
  names?: readonly string[];
}

const ITEM_SIZE: Record<SafetensorsDtype, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
};

/** The official implementation refuses headers over 100 MB; so do we (a lying length fails fast). */
const MAX_HEADER_BYTES = 100_000_000;

function invalid(file: string, message: string, details?: Record<string, unknown>): MrnError {
  return new MrnError('E_SAFETENSORS_INVALID', `invalid safetensors file: ${message}`, { file, details });
}

function assertLittleEndianHost(): void {
  // Typed-array views use host byte order; safetensors is little-endian. Every platform Node runs on
  // in practice is little-endian, so refuse rather than silently byte-swap on an exotic one.
  if (os.endianness() !== 'LE') {
    throw new MrnError('E_INTERNAL', 'safetensors reading needs a little-endian host');
  }
}

/** Number of elements of a shape (1 for a scalar). */
function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * Parses and validates a header: known dtypes, integer shapes, offsets that match `shape × itemsize`,
 * and tensors that tile the data section exactly (no overlap, no hole, nothing past its end), as the
 * reference implementation requires.
 */
export function parseSafetensorsHeader(
  headerBytes: Uint8Array,
  dataLength: number,
  file: string,
): SafetensorsHeader {
  const json = parseHeaderJson(headerBytes, file);
  const metadata: Record<string, string> = {};
  const entries: SafetensorsEntry[] = [];
  for (const [name, value] of Object.entries(json)) {
    if (name === '__metadata__') Object.assign(metadata, parseMetadata(value, file));
    else entries.push(parseTensorEntry(name, value, file));
  }
  entries.sort((a, b) => a.dataOffsets[0] - b.dataOffsets[0] || a.dataOffsets[1] - b.dataOffsets[1]);
  checkTiling(entries, dataLength, file);
  return { entries, metadata, dataStart: 0, dataLength };
}

/** The header bytes as a JSON object (strict UTF-8). */
function parseHeaderJson(headerBytes: Uint8Array, file: string): Record<string, unknown> {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (cause) {
    throw invalid(file, `header is not valid UTF-8 JSON (${(cause as Error).message})`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw invalid(file, 'header is not a JSON object');
  }
  return json as Record<string, unknown>;
}

/** `__metadata__`: an object of strings. */
function parseMetadata(value: unknown, file: string): Record<string, string> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw invalid(file, '__metadata__ is not an object of strings');
  }
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (typeof v !== 'string') throw invalid(file, `__metadata__.${k} is not a string`);
    metadata[k] = v;
  }
  return metadata;
}

/** One tensor's entry: a known dtype, a non-negative integer shape, offsets spanning exactly its bytes. */
function parseTensorEntry(name: string, value: unknown, file: string): SafetensorsEntry {
  const v = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
  if (v === null || typeof v !== 'object') throw invalid(file, `tensor '${name}': entry is not an object`);
  if (typeof v.dtype !== 'string' || !Object.hasOwn(ITEM_SIZE, v.dtype)) {
    throw invalid(file, `tensor '${name}': unsupported dtype ${JSON.stringify(v.dtype)}`, {
      tensor: name,
      supported: Object.keys(ITEM_SIZE),
    });
  }
  const dtype = v.dtype as SafetensorsDtype;
  if (!Array.isArray(v.shape) || !v.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw invalid(
      file,
      `tensor '${name}': shape ${JSON.stringify(v.shape)} is not a list of non-negative integers`,
    );
  }
  const offsets = v.data_offsets;
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
    offsets[0] > offsets[1]
  ) {
    throw invalid(
      file,
      `tensor '${name}': data_offsets ${JSON.stringify(offsets)} are not [begin, end] with begin <= end`,
    );
  }
  const shape = v.shape as number[];
  const expected = elementCount(shape) * ITEM_SIZE[dtype];
  const actual = offsets[1] - offsets[0];
  if (actual !== expected) {
    throw invalid(
      file,
      `tensor '${name}': ${dtype} ${JSON.stringify(shape)} needs ${expected} bytes but data_offsets span ${actual}`,
      { tensor: name, expected, actual },
    );
  }
  return { name, dtype, shape, dataOffsets: [offsets[0], offsets[1]] };
}

/** The tensors (sorted by offset) must tile the data section: no overlap, no hole, nothing past its end. */
function checkTiling(entries: readonly SafetensorsEntry[], dataLength: number, file: string): void {
  let cursor = 0;
  for (const e of entries) {
    if (e.dataOffsets[0] !== cursor) {
      throw invalid(
        file,
        e.dataOffsets[0] < cursor
          ? `tensor '${e.name}' overlaps the previous tensor (starts at ${e.dataOffsets[0]}, previous ends at ${cursor})`
          : `hole in the data section before tensor '${e.name}' (bytes ${cursor}..${e.dataOffsets[0]} unused)`,
        { tensor: e.name },
      );
    }
    cursor = e.dataOffsets[1];
  }
  if (cursor !== dataLength) {
    throw invalid(
      file,
      cursor > dataLength
        ? `header describes ${cursor} data bytes but the file holds only ${dataLength} (truncated file?)`
        : `data section holds ${dataLength} bytes but the header describes only ${cursor}`,
      { described: cursor, actual: dataLength },
    );
  }
}

function readHeaderLength(prefix: Uint8Array, fileSize: number, file: string): number {
  if (fileSize < 8) throw invalid(file, `file is ${fileSize} bytes, shorter than the 8-byte header length`);
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES))
    throw invalid(file, `header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  const len = Number(n);
  if (8 + len > fileSize) {
    throw invalid(file, `header length ${len} runs past the end of the ${fileSize}-byte file`);
  }
  return len;
}

/** Converts bfloat16 (the top half of a float32) to float32, exactly. */
function bf16ToF32(src: Uint16Array): Float32Array {
  const out = new Uint32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = src[i] << 16;
  return new Float32Array(out.buffer);
}

/**
 * Builds the typed array for one tensor from its bytes. Aligned bytes of a directly representable dtype
 * are viewed, not copied; misaligned ones are copied once.
 */
function decodeTensor(dtype: SafetensorsDtype, bytes: Uint8Array): SafetensorsData {
  const size = ITEM_SIZE[dtype];
  const n = bytes.byteLength / size;
  const aligned = bytes.byteOffset % size === 0;
  // new Uint8Array(x) copies (Buffer#slice would return a view with the same misalignment)
  const buf = aligned ? bytes : new Uint8Array(bytes);
  const { buffer, byteOffset } = buf;
  switch (dtype) {
    case 'F64':
      return new Float64Array(buffer, byteOffset, n);
    case 'F32':
      return new Float32Array(buffer, byteOffset, n);
    case 'F16':
      return float16ToFloat32(new Uint16Array(buffer, byteOffset, n));
    case 'BF16':
      return bf16ToF32(new Uint16Array(buffer, byteOffset, n));
    case 'I64':
      return new BigInt64Array(buffer, byteOffset, n);
    case 'U64':
      return new BigUint64Array(buffer, byteOffset, n);
    case 'I32':
      return new Int32Array(buffer, byteOffset, n);
    case 'U32':
      return new Uint32Array(buffer, byteOffset, n);
    case 'I16':
      return new Int16Array(buffer, byteOffset, n);
    case 'U16':
      return new Uint16Array(buffer, byteOffset, n);
    case 'I8':
      return new Int8Array(buffer, byteOffset, n);
    case 'U8':
    case 'BOOL':
      return new Uint8Array(buffer, byteOffset, n);
  }
}

/** Parses a whole safetensors file held in memory. Tensors are views into `bytes` where possible. */
export function decodeSafetensors(
  bytes: Uint8Array,
  options: ReadSafetensorsOptions = {},
): Record<string, SafetensorsTensor> {
  assertLittleEndianHost();
  const file = options.name ?? '<bytes>';
  const len = readHeaderLength(bytes, bytes.byteLength, file);
  const header = parseSafetensorsHeader(bytes.subarray(8, 8 + len), bytes.byteLength - 8 - len, file);
  const wanted = options.names ? new Set(options.names) : undefined;
  const out: Record<string, SafetensorsTensor> = {};
  for (const e of header.entries) {
    if (wanted && !wanted.has(e.name)) continue;
    const start = 8 + len + e.dataOffsets[0];
    const data = decodeTensor(e.dtype, bytes.subarray(start, 8 + len + e.dataOffsets[1]));
    out[e.name] = { dtype: e.dtype, shape: e.shape, data };
  }
  return out;
}

/**
 * Reads a safetensors file (a path, or its bytes) into `{ name: { dtype, shape, data } }`. The file is
 * read once; F32 and integer tensors are views into that buffer (no second copy), F16/BF16 tensors are
 * converted to Float32Array. Throws `E_SAFETENSORS_INVALID` for a malformed header or sizes that do
 * not add up, `E_FILE_NOT_FOUND` / `E_IO` when the file cannot be read.
 *
 * @example
 * ```ts
 * const t = await readSafetensors('model.safetensors');
 * t['layernorm.weight'].data; // Float32Array
 * ```
 */
export async function readSafetensors(
  source: string | Uint8Array,
  options: ReadSafetensorsOptions = {},
): Promise<Record<string, SafetensorsTensor>> {
  if (typeof source !== 'string') return decodeSafetensors(source, options);
  let bytes: Uint8Array;
  try {
    bytes = await readFile(source);
  } catch (cause) {
    throw fileError(source, cause);
  }
  return decodeSafetensors(bytes, { ...options, name: options.name ?? source });
}

function fileError(file: string, cause: unknown): MrnError {
  if (cause instanceof MrnError) return cause; // E_NODE_ONLY from the browser build's fs stand-in
  const code = (cause as NodeJS.ErrnoException)?.code;
  if (code === 'ENOENT')
    return new MrnError('E_FILE_NOT_FOUND', 'safetensors file not found', { file, cause });
  return new MrnError('E_IO', `cannot read safetensors file: ${(cause as Error).message}`, { file, cause });
}

/**
 * Reads and validates only the header of a safetensors file (a few KB, whatever the file size).
 * `dataStart` is the absolute offset of the data section.
 */
export async function readSafetensorsHeader(path: string): Promise<SafetensorsHeader> {
  assertLittleEndianHost();
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (cause) {
    throw fileError(path, cause);
  }
  try {
    const size = (await handle.stat()).size;
    const prefix = new Uint8Array(8);
    await handle.read(prefix, 0, Math.min(8, size), 0);
    const len = readHeaderLength(prefix, size, path);
    const headerBytes = new Uint8Array(len);
    await readFully(handle, headerBytes, 8, path);
    const header = parseSafetensorsHeader(headerBytes, size - 8 - len, path);
    return { ...header, dataStart: 8 + len };
  } finally {
    await handle.close();
  }
}

async function readFully(
  handle: import('node:fs/promises').FileHandle,
  into: Uint8Array,
  position: number,
  file: string,
): Promise<void> {
  let done = 0;
  while (done < into.byteLength) {
    const { bytesRead } = await handle.read(into, done, into.byteLength - done, position + done);
    if (bytesRead === 0) throw invalid(file, `file ended at byte ${position + done} while reading`);
    done += bytesRead;
  }
}

/** One tensor yielded by {@link iterateSafetensors}. */
export interface SafetensorsStreamItem extends SafetensorsTensor {
  /** The tensor name. */
  name: string;
}

/**
 * Streams the tensors of a safetensors file one at a time, in file order, from a file handle: only the
 * current tensor is in memory (its bytes, or its Float32Array conversion for F16/BF16). The header is
 * validated before the first tensor is yielded. Use it to load checkpoints larger than the memory you
 * want to spend on them.
 *
 * @example
 * ```ts
 * for await (const t of iterateSafetensors('model.safetensors')) upload(t.name, t.data);
 * ```
 */
export async function* iterateSafetensors(
  path: string,
  options: Omit<ReadSafetensorsOptions, 'name'> = {},
): AsyncGenerator<SafetensorsStreamItem> {
  const header = await readSafetensorsHeader(path);
  const wanted = options.names ? new Set(options.names) : undefined;
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (cause) {
    throw fileError(path, cause);
  }
  try {
    const size = (await stat(path)).size;
    if (size !== header.dataStart + header.dataLength) throw invalid(path, 'file changed while being read');
    for (const e of header.entries) {
      if (wanted && !wanted.has(e.name)) continue;
      const bytes = new Uint8Array(e.dataOffsets[1] - e.dataOffsets[0]);
      await readFully(handle, bytes, header.dataStart + e.dataOffsets[0], path);
      yield { name: e.name, dtype: e.dtype, shape: e.shape, data: decodeTensor(e.dtype, bytes) };
    }
  } finally {
    await handle.close();
  }
}

/** A tensor to write with {@link encodeSafetensors}. */
export interface SafetensorsWriteTensor {
  /** `F32`, `F64`, `I32`, `I64`, `U8`, ... (`F16`/`BF16` take a Uint16Array of raw bits). */
  dtype: SafetensorsDtype;
  /** The shape. */
  shape: readonly number[];
  /** Row-major values whose element size matches `dtype`. */
  data: SafetensorsData;
}

/**
 * Encodes tensors as a safetensors file (header padded with spaces to 8-byte alignment, as the
 * reference implementation writes it, so every tensor of a file read back is aligned and viewable).
 */
export function encodeSafetensors(
  tensors: Record<string, SafetensorsWriteTensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  const names = Object.keys(tensors);
  for (const name of names) {
    const t = tensors[name];
    const bytes = elementCount(t.shape) * ITEM_SIZE[t.dtype];
    if (t.data.byteLength !== bytes) {
      throw new MrnError(
        'E_INVALID_ARGUMENT',
        `tensor '${name}': ${t.dtype} ${JSON.stringify(t.shape)} needs ${bytes} bytes, data has ${t.data.byteLength}`,
      );
    }
    header[name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  const encoder = new TextEncoder();
  while (encoder.encode(json).byteLength % 8 !== 0) json += ' ';
  const headerBytes = encoder.encode(json);
  const out = new Uint8Array(8 + headerBytes.byteLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.byteLength), true);
  out.set(headerBytes, 8);
  let cursor = 8 + headerBytes.byteLength;
  for (const name of names) {
    const d = tensors[name].data;
    out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), cursor);
    cursor += d.byteLength;
  }
  return out;
}
