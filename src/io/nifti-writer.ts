/**
 * Writing NIfTI-1 volumes (`.nii`, `.nii.gz`) that nibabel, ITK-SNAP and 3D Slicer place identically.
 * Reading: `nifti-reader.ts`.
 */

import { writeFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { MrnError } from '../errors.js';
import { affineToQform } from '../preprocess/affine.js';
import { byteswap, HOST_LITTLE_ENDIAN } from './byte-order.js';
import { writeNifti1Header } from './nifti-header.js';
import type { Volume, VoxelArray } from '../preprocess/volume.js';

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
