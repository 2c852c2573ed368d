/**
 * Reading and writing NIfTI volumes (`.nii`, `.nii.gz`), agreeing with nibabel on voxel values,
 * scaling and the voxel-to-world affine.
 */

import { readFile, writeFile } from 'node:fs/promises';
import { gunzipSync, gzipSync } from 'node:zlib';
import { MrnError } from '../errors.js';
import { affineToQform, quaternionToMatrix } from './affine.js';
import { NIFTI_DATATYPES, parseNiftiHeader, writeNifti1Header, type NiftiHeader } from './nifti-header.js';
import { createVolume, type Affine, type Volume, type VoxelArray } from './volume.js';

/** Options of {@link readNifti}. */
export interface ReadNiftiOptions {
  /** Names the source in error messages when it is bytes (defaults to the path, or `'<bytes>'`). */
  name?: string;
  /**
   * Which volume of a 4-D file to read (0-based), as nibabel's `img.dataobj[..., volume]`: e.g. one
   * echo of a multi-echo QSM. Default: none, and a file holding more than one volume is refused. A 3-D
   * file is volume 0.
   */
  volume?: number;
}

/** Datatypes {@link writeNifti} can store. */
export type NiftiWriteDatatype =
  | 'uint8'
  | 'int8'
  | 'int16'
  | 'uint16'
  | 'int32'
  | 'uint32'
  | 'float32'
  | 'float64';

/** Options of {@link writeNifti} and {@link encodeNifti}. */
export interface WriteNiftiOptions {
  /** Stored datatype; default: the volume's own array type. Integer types require integer values in range. */
  datatype?: NiftiWriteDatatype;
  /** gzip the file; default: true when the path ends in `.gz` (for {@link encodeNifti}: false). */
  gzip?: boolean;
  /** qform and sform code written with the affine (default 1, "scanner anatomical", as the challenge files). */
  xformCode?: number;
  /** Text for the header's `descrip` field (at most 79 ASCII characters kept). */
  description?: string;
}

/** Typed arrays use the host's byte order; files are swapped when theirs differs. */
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const GZIP_MAGIC0 = 0x1f;
const GZIP_MAGIC1 = 0x8b;

/**
 * Reads a NIfTI-1 or NIfTI-2 volume (`.nii` or `.nii.gz`, detected from the bytes, either byte order).
 *
 * - Datatypes uint8, int8, int16, uint16, int32, uint32, float32, float64 keep their array type when
 *   `scl_slope`/`scl_inter` are the identity (slope 0 or NaN also means unscaled, as nibabel); int64 and
 *   uint64 become `Int32Array` when every value fits, else `Float64Array` when exact, else an error.
 *   Scaled data becomes `Float32Array` (`raw * slope + inter`, computed in float64).
 * - The affine is chosen as nibabel does: sform when `sform_code != 0`, else the qform (quaternion with
 *   `pixdim[0]` as qfac) when `qform_code != 0`, else the pixdim fallback centred on the volume.
 * - 4D files: `options.volume` picks one volume (as nibabel's `img.dataobj[..., volume]`, with the
 *   same scaling); without it a file of one volume is squeezed to 3D and more volumes give
 *   `E_NIFTI_UNSUPPORTED` naming the option. Dimensions 5 to 7 must be 1.
 * - NaN/Inf voxels are kept and counted in `nonFiniteCount`.
 *
 * Errors (`MrnError`, naming the file): `E_FILE_NOT_FOUND`, `E_IO`, `E_NIFTI_TRUNCATED`,
 * `E_NIFTI_INVALID` (bad magic, fields out of range, corrupt gzip), `E_NIFTI_UNSUPPORTED`;
 * `E_INVALID_ARGUMENT` for a `volume` that is not an integer in range.
 *
 * @example
 * ```ts
 * const echo2 = await readNifti('QSM_multiecho.nii.gz', { volume: 1 });
 * ```
 *
 * @param source a file path or the file's bytes (gzipped or not).
 */
export async function readNifti(
  source: string | Uint8Array,
  options: ReadNiftiOptions = {},
): Promise<Volume> {
  if (typeof source === 'string') {
    const name = options.name ?? source;
    let bytes: Uint8Array;
    try {
      bytes = await readFile(source);
    } catch (e) {
      if (e instanceof MrnError) throw e; // E_NODE_ONLY from the browser build's fs stand-in
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT')
        throw new MrnError('E_FILE_NOT_FOUND', 'NIfTI file not found', { file: name, cause: e });
      throw new MrnError('E_IO', `cannot read NIfTI file: ${(e as Error).message}`, { file: name, cause: e });
    }
    return decodeNifti(bytes, { name, ownsBytes: true, volume: options.volume });
  }
  if (!(source instanceof Uint8Array)) {
    throw new MrnError('E_INVALID_ARGUMENT', 'readNifti: source must be a file path or a Uint8Array', {
      file: options.name,
    });
  }
  return decodeNifti(source, { name: options.name ?? '<bytes>', volume: options.volume });
}

/** Options of {@link decodeNifti}. */
export interface DecodeNiftiOptions {
  /** Names the source in errors. */
  name?: string;
  /**
   * When true, the returned volume may view `bytes`' memory directly (no copy) if the file is
   * uncompressed, little-endian and aligned. Default false: the caller's bytes are never aliased.
   */
  ownsBytes?: boolean;
  /** Which volume of a 4-D file to decode (see {@link ReadNiftiOptions.volume}). */
  volume?: number;
}

/** Synchronous core of {@link readNifti}: decodes a whole `.nii` / `.nii.gz` file held in memory. */
export function decodeNifti(bytes: Uint8Array, options: DecodeNiftiOptions = {}): Volume {
  const name = options.name ?? '<bytes>';
  let raw = bytes;
  let owns = options.ownsBytes === true;
  if (bytes.length >= 2 && bytes[0] === GZIP_MAGIC0 && bytes[1] === GZIP_MAGIC1) {
    raw = gunzip(bytes, name);
    owns = true;
  }
  const hdr = parseNiftiHeader(raw, name);
  const { shape, volumes } = imageShape(hdr, name);
  const volume = pickVolume(volumes, options.volume, hdr, name);
  const affine = chooseAffine(hdr, shape, name);
  const values = decodeVoxels(raw, hdr, shape, volumes, volume, owns, name);
  return createVolume(values, shape, affine, name);
}

function gunzip(bytes: Uint8Array, name: string): Uint8Array {
  // The gzip footer holds the decompressed size (mod 2^32). When it is plausible, one output chunk of
  // that size avoids zlib's chunk list and final concatenation (half the peak memory, one copy less).
  const n = bytes.length;
  const isize =
    n >= 18
      ? (bytes[n - 4]! | (bytes[n - 3]! << 8) | (bytes[n - 2]! << 16) | (bytes[n - 1]! << 24)) >>> 0
      : 0;
  const plausible = isize >= 348 && isize <= 1032 * n && isize < 2 ** 31;
  try {
    return plausible ? gunzipSync(bytes, { chunkSize: isize + 1 }) : gunzipSync(bytes);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // zlib reports a cut-off stream as Z_BUF_ERROR ("unexpected end of file").
    if (code === 'Z_BUF_ERROR') {
      throw new MrnError('E_NIFTI_TRUNCATED', 'gzip stream ends early (truncated .nii.gz)', {
        file: name,
        cause: e,
      });
    }
    throw new MrnError('E_NIFTI_INVALID', `corrupt gzip data: ${(e as Error).message}`, {
      file: name,
      cause: e,
    });
  }
}

/** The 3-D shape of one volume and the number of volumes (`dim[4]`; 1 for 3-D files). */
function imageShape(hdr: NiftiHeader, name: string): { shape: [number, number, number]; volumes: number } {
  const ndim = hdr.dim[0]!;
  const shape: [number, number, number] = [1, 1, 1];
  for (let i = 1; i <= Math.min(ndim, 3); i++) shape[i - 1] = hdr.dim[i]!;
  const higher = hdr.dim.slice(5, ndim + 1);
  if (higher.some((d) => d !== 1)) {
    throw new MrnError(
      'E_NIFTI_UNSUPPORTED',
      `image is ${ndim}D with shape [${hdr.dim.slice(1, ndim + 1).join(', ')}]; mrn reads 3D volumes and single volumes of 4D files`,
      { file: name, details: { dim: hdr.dim.slice(0, ndim + 1) } },
    );
  }
  return { shape, volumes: ndim >= 4 ? hdr.dim[4]! : 1 };
}

/** The volume to decode: `requested`, checked, else 0 for a file of one volume. */
function pickVolume(volumes: number, requested: number | undefined, hdr: NiftiHeader, name: string): number {
  if (requested === undefined) {
    if (volumes === 1) return 0;
    const ndim = hdr.dim[0]!;
    throw new MrnError(
      'E_NIFTI_UNSUPPORTED',
      `image is ${ndim}D with shape [${hdr.dim.slice(1, ndim + 1).join(', ')}] (${volumes} volumes); pass { volume: i } (0 <= i < ${volumes}) to readNifti to read one of them`,
      { file: name, details: { dim: hdr.dim.slice(0, ndim + 1), volumes } },
    );
  }
  if (!Number.isInteger(requested) || requested < 0 || requested >= volumes) {
    throw new MrnError(
      'E_INVALID_ARGUMENT',
      `readNifti: volume must be an integer in [0, ${volumes - 1}] (the file holds ${volumes} volume${volumes === 1 ? '' : 's'}), got ${requested}`,
      { file: name, details: { volumes, volume: requested } },
    );
  }
  return requested;
}

/** nibabel's `get_best_affine`: sform, else qform, else the pixdim fallback (`shape_zoom_affine`). */
function chooseAffine(hdr: NiftiHeader, shape: [number, number, number], name: string): Affine {
  let affine: Affine;
  if (hdr.sformCode !== 0) {
    affine = [...hdr.srow.map((r) => [...r]), [0, 0, 0, 1]];
  } else if (hdr.qformCode !== 0) {
    const [b, c, d] = hdr.quatern;
    const w2 = 1 - (b * b + c * c + d * d);
    // nibabel tolerates a slightly negative w^2 (rounding in the stored b, c, d) up to 3 eps.
    const eps = hdr.version === 1 ? 1.1920928955078125e-7 : Number.EPSILON;
    let w = 0;
    if (w2 < 0) {
      if (w2 < -3 * eps) {
        throw new MrnError(
          'E_NIFTI_INVALID',
          `qform quaternion (b, c, d) = (${b}, ${c}, ${d}) is not a unit quaternion (b²+c²+d² > 1)`,
          { file: name },
        );
      }
    } else {
      w = Math.sqrt(w2);
    }
    const r = quaternionToMatrix(w, b, c, d);
    const vox = [hdr.pixdim[1]!, hdr.pixdim[2]!, hdr.pixdim[3]! * hdr.pixdim[0]!];
    affine = [0, 1, 2].map((i) => [
      r[i]![0]! * vox[0]!,
      r[i]![1]! * vox[1]!,
      r[i]![2]! * vox[2]!,
      hdr.qoffset[i]!,
    ]);
    affine.push([0, 0, 0, 1]);
  } else {
    const ndim = hdr.dim[0]!;
    const zooms = [1, 2, 3].map((i) => (i <= ndim ? hdr.pixdim[i]! : 1));
    zooms[0] = -zooms[0]!; // nibabel's default_x_flip: radiological Analyze convention
    affine = [0, 1, 2].map((i) => {
      const row = [0, 0, 0, -((shape[i]! - 1) / 2) * zooms[i]!];
      row[i] = zooms[i]!;
      return row;
    });
    affine.push([0, 0, 0, 1]);
  }
  if (affine.some((row) => row.some((v) => !Number.isFinite(v)))) {
    throw new MrnError(
      'E_NIFTI_INVALID',
      `the ${hdr.sformCode !== 0 ? 'sform' : 'qform'} affine holds NaN or Inf values`,
      { file: name, details: { affine } },
    );
  }
  return affine;
}

/** nibabel's `get_slope_inter`: `null` when unscaled (slope 0 or non-finite); throws on a bad intercept. */
function slopeInter(hdr: NiftiHeader, name: string): [number, number] | null {
  const slope = hdr.sclSlope;
  const inter = hdr.sclInter;
  if (slope === 0 || !Number.isFinite(slope)) return null;
  if (!Number.isFinite(inter)) {
    throw new MrnError('E_NIFTI_INVALID', `valid scl_slope ${slope} but invalid scl_inter ${inter}`, {
      file: name,
    });
  }
  return [slope, inter];
}

type RawArray = VoxelArray | BigInt64Array | BigUint64Array;

function typedArrayFor(datatype: number): {
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): RawArray;
  new (length: number): RawArray;
} {
  switch (datatype) {
    case 2:
      return Uint8Array;
    case 4:
      return Int16Array;
    case 8:
      return Int32Array;
    case 16:
      return Float32Array;
    case 64:
      return Float64Array;
    case 256:
      return Int8Array;
    case 512:
      return Uint16Array;
    case 768:
      return Uint32Array;
    case 1024:
      return BigInt64Array;
    case 1280:
      return BigUint64Array;
    default:
      throw new MrnError('E_INTERNAL', `no typed array for NIfTI datatype ${datatype}`);
  }
}

/** Decodes volume `volume` of `volumes` (the file must hold all of them: a cut-off file is corrupt). */
function decodeVoxels(
  bytes: Uint8Array,
  hdr: NiftiHeader,
  shape: [number, number, number],
  volumes: number,
  volume: number,
  owns: boolean,
  name: string,
): VoxelArray {
  const info = NIFTI_DATATYPES[hdr.datatype as keyof typeof NIFTI_DATATYPES];
  const n = shape[0] * shape[1] * shape[2];
  const nbytes = n * info.bytes;
  const totalBytes = nbytes * volumes;
  if (hdr.voxOffset > bytes.length) {
    throw new MrnError(
      'E_NIFTI_INVALID',
      `vox_offset ${hdr.voxOffset} is past the end of the file (${bytes.length} bytes)`,
      { file: name },
    );
  }
  if (hdr.voxOffset + totalBytes > bytes.length) {
    const what = volumes === 1 ? `[${shape.join(', ')}]` : `[${shape.join(', ')}, ${volumes}]`;
    throw new MrnError(
      'E_NIFTI_TRUNCATED',
      `voxel data truncated: shape ${what} of ${info.name} needs ${totalBytes} bytes from offset ${hdr.voxOffset}, the file has ${bytes.length - hdr.voxOffset}`,
      { file: name, details: { expectedBytes: totalBytes, availableBytes: bytes.length - hdr.voxOffset } },
    );
  }
  const Ctor = typedArrayFor(hdr.datatype);
  const offset = hdr.voxOffset + volume * nbytes; // volumes are stored one after the other
  const start = bytes.byteOffset + offset;
  let raw: RawArray;
  const swap = hdr.littleEndian !== HOST_LITTLE_ENDIAN && info.bytes > 1;
  if (!swap && owns && start % info.bytes === 0) {
    raw = new Ctor(bytes.buffer, start, n); // zero copy: a view over the file's bytes
  } else {
    // An explicit copy: Buffer#slice would return a view, and the byte swap must not touch the input.
    const copy = new Uint8Array(nbytes);
    copy.set(bytes.subarray(offset, offset + nbytes));
    if (swap) byteswap(copy, info.bytes);
    raw = new Ctor(copy.buffer, 0, n);
  }
  const scaling = slopeInter(hdr, name);
  const identity = scaling === null || (scaling[0] === 1 && scaling[1] === 0);
  if (raw instanceof BigInt64Array || raw instanceof BigUint64Array) {
    return identity ? int64ToNumbers(raw, info.name, name) : scaleBig(raw, scaling!);
  }
  if (identity) return raw;
  const [slope, inter] = scaling!;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = raw[i]! * slope + inter;
  return out;
}

function byteswap(bytes: Uint8Array, width: number): void {
  for (let i = 0; i + width <= bytes.length; i += width) {
    for (let a = i, b = i + width - 1; a < b; a++, b--) {
      const t = bytes[a]!;
      bytes[a] = bytes[b]!;
      bytes[b] = t;
    }
  }
}

function int64ToNumbers(raw: BigInt64Array | BigUint64Array, typeName: string, name: string): VoxelArray {
  let min = 0n;
  let max = 0n;
  for (let i = 0; i < raw.length; i++) {
    const v = raw[i]!;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (min >= -2147483648n && max <= 2147483647n) {
    const out = new Int32Array(raw.length);
    for (let i = 0; i < raw.length; i++) out[i] = Number(raw[i]!);
    return out;
  }
  if (min >= BigInt(Number.MIN_SAFE_INTEGER) && max <= BigInt(Number.MAX_SAFE_INTEGER)) {
    const out = new Float64Array(raw.length);
    for (let i = 0; i < raw.length; i++) out[i] = Number(raw[i]!);
    return out;
  }
  throw new MrnError(
    'E_NIFTI_UNSUPPORTED',
    `${typeName} voxel values span [${min}, ${max}], beyond the exactly representable range ±2^53`,
    { file: name },
  );
}

function scaleBig(raw: BigInt64Array | BigUint64Array, [slope, inter]: [number, number]): Float32Array {
  const out = new Float32Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = Number(raw[i]!) * slope + inter;
  return out;
}

const WRITE_TYPES: Record<
  NiftiWriteDatatype,
  { code: number; bytes: number; ctor: new (n: number) => VoxelArray; min?: number; max?: number }
> = {
  uint8: { code: 2, bytes: 1, ctor: Uint8Array, min: 0, max: 255 },
  int8: { code: 256, bytes: 1, ctor: Int8Array, min: -128, max: 127 },
  int16: { code: 4, bytes: 2, ctor: Int16Array, min: -32768, max: 32767 },
  uint16: { code: 512, bytes: 2, ctor: Uint16Array, min: 0, max: 65535 },
  int32: { code: 8, bytes: 4, ctor: Int32Array, min: -2147483648, max: 2147483647 },
  uint32: { code: 768, bytes: 4, ctor: Uint32Array, min: 0, max: 4294967295 },
  float32: { code: 16, bytes: 4, ctor: Float32Array },
  float64: { code: 64, bytes: 8, ctor: Float64Array },
};

function datatypeOf(values: VoxelArray): NiftiWriteDatatype {
  if (values instanceof Uint8Array) return 'uint8';
  if (values instanceof Int8Array) return 'int8';
  if (values instanceof Int16Array) return 'int16';
  if (values instanceof Uint16Array) return 'uint16';
  if (values instanceof Int32Array) return 'int32';
  if (values instanceof Uint32Array) return 'uint32';
  if (values instanceof Float64Array) return 'float64';
  return 'float32';
}

/**
 * Encodes a volume as a single-file little-endian NIfTI-1 (`.nii` bytes, gzipped when `gzip` is true).
 * The affine is stored both as sform (exactly, in float32) and as qform (nibabel's `set_qform`:
 * shears stripped), both with `xformCode`, so nibabel, ITK-SNAP and 3D Slicer place it identically.
 * Throws `E_INVALID_ARGUMENT` when values do not fit an integer datatype or the affine is degenerate.
 */
export function encodeNifti(volume: Volume, options: WriteNiftiOptions & { name?: string } = {}): Uint8Array {
  const name = options.name ?? volume.name;
  const values = volume.data.data as VoxelArray;
  const [x, y, z] = volume.shape;
  if (Math.max(x, y, z) > 32767) {
    throw new MrnError(
      'E_INVALID_ARGUMENT',
      `writeNifti: shape [${volume.shape}] exceeds NIfTI-1's 32767 per axis`,
      {
        file: name,
      },
    );
  }
  if (values.length !== x * y * z || volume.data.stride.join() !== [1, x, x * y].join()) {
    throw new MrnError(
      'E_INVALID_ARGUMENT',
      'writeNifti: volume data must be contiguous with strides [1, X, X*Y]',
      {
        file: name,
      },
    );
  }
  const datatype = options.datatype ?? datatypeOf(values);
  const spec = WRITE_TYPES[datatype];
  if (!spec) {
    throw new MrnError('E_INVALID_ARGUMENT', `writeNifti: unknown datatype '${datatype}'`, { file: name });
  }
  let q;
  try {
    q = affineToQform(volume.affine);
  } catch (e) {
    throw new MrnError('E_INVALID_ARGUMENT', `writeNifti: affine cannot be stored: ${(e as Error).message}`, {
      file: name,
      cause: e,
    });
  }
  const code = options.xformCode ?? 1;
  const header = writeNifti1Header({
    shape: volume.shape,
    datatype: spec.code,
    bitpix: spec.bytes * 8,
    pixdim: [q.qfac, q.zooms[0], q.zooms[1], q.zooms[2]],
    sclSlope: 1,
    sclInter: 0,
    qformCode: code,
    sformCode: code,
    quatern: q.quatern,
    qoffset: q.offset,
    srow: volume.affine.slice(0, 3),
    descrip: options.description,
  });
  let stored: VoxelArray;
  if (datatypeOf(values) === datatype) {
    stored = values;
  } else {
    stored = new spec.ctor(values.length);
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      if (spec.min !== undefined && !(Number.isInteger(v) && v >= spec.min && v <= spec.max!)) {
        throw new MrnError(
          'E_INVALID_ARGUMENT',
          `writeNifti: voxel ${i} = ${v} cannot be stored as ${datatype} (integers ${spec.min}..${spec.max}); write float32 or round first`,
          { file: name },
        );
      }
      stored[i] = v;
    }
  }
  let body = new Uint8Array(stored.buffer, stored.byteOffset, stored.byteLength);
  if (!HOST_LITTLE_ENDIAN && spec.bytes > 1) {
    body = body.slice(); // the file is little-endian; never swap the caller's voxels in place
    byteswap(body, spec.bytes);
  }
  const out = new Uint8Array(header.length + body.length);
  out.set(header, 0);
  out.set(body, header.length);
  return options.gzip ? gzipSync(out, { level: 1 }) : out;
}

/**
 * Writes a volume as NIfTI-1 to `path` (see {@link encodeNifti}); gzipped by default when the path
 * ends in `.gz`. Throws `E_IO` when the file cannot be written.
 */
export async function writeNifti(
  volume: Volume,
  path: string,
  options: WriteNiftiOptions = {},
): Promise<void> {
  const gzip = options.gzip ?? path.toLowerCase().endsWith('.gz');
  const bytes = encodeNifti(volume, { ...options, gzip, name: path });
  try {
    await writeFile(path, bytes);
  } catch (e) {
    throw new MrnError('E_IO', `cannot write NIfTI file: ${(e as Error).message}`, { file: path, cause: e });
  }
}
