/**
 * Reading NIfTI volumes (`.nii`, `.nii.gz`), agreeing with nibabel on voxel values, scaling and the
 * voxel-to-world affine. Writing: `nifti-writer.ts`.
 */

import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { MrnError } from '../errors.js';
import { quaternionToMatrix } from '../preprocess/affine.js';
import { byteswap, HOST_LITTLE_ENDIAN } from './byte-order.js';
import { NIFTI_DATATYPES, parseNiftiHeader, type NiftiHeader } from './nifti-header.js';
import { createVolume, type Affine, type Volume, type VoxelArray } from '../preprocess/volume.js';

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
