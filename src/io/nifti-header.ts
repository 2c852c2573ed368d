/**
 * NIfTI-1 and NIfTI-2 header parsing and NIfTI-1 header writing, either byte order.
 *
 * Parsed here rather than with nifti-reader-js because that library does not apply nibabel's header
 * fixes (pixdim sign/zero, qfac, invalid xform codes), and the exact choice of affine and scaling
 * is what downstream code trusts; the header is a fixed struct, so reading it directly is short.
 */

import { MrnError } from '../errors.js';

/** NIfTI datatype codes mrn reads, with their size in bytes. */
export const NIFTI_DATATYPES = {
  2: { name: 'uint8', bytes: 1 },
  4: { name: 'int16', bytes: 2 },
  8: { name: 'int32', bytes: 4 },
  16: { name: 'float32', bytes: 4 },
  64: { name: 'float64', bytes: 8 },
  256: { name: 'int8', bytes: 1 },
  512: { name: 'uint16', bytes: 2 },
  768: { name: 'uint32', bytes: 4 },
  1024: { name: 'int64', bytes: 8 },
  1280: { name: 'uint64', bytes: 8 },
} as const;

/** Names of the NIfTI datatypes mrn reads. */
export type NiftiDatatypeName = (typeof NIFTI_DATATYPES)[keyof typeof NIFTI_DATATYPES]['name'];

/** Names of datatypes the NIfTI standard defines but mrn does not read (for error messages). */
const UNSUPPORTED_DATATYPES: Record<number, string> = {
  1: 'binary (1 bit)',
  32: 'complex64',
  128: 'rgb24',
  1536: 'float128',
  1792: 'complex128',
  2048: 'complex256',
  2304: 'rgba32',
};

/** The header fields mrn uses, after nibabel's automatic fixes. Floats widened to float64. */
export interface NiftiHeader {
  /** 1 or 2. */
  version: 1 | 2;
  /** Byte order of the file. */
  littleEndian: boolean;
  /** 348 (NIfTI-1) or 540 (NIfTI-2). */
  sizeofHdr: number;
  /** `dim[0..7]`. */
  dim: number[];
  /** Datatype code. */
  datatype: number;
  /** `pixdim[0..7]` after nibabel's fixes (spatial zero -> 1, negative -> abs, qfac not ±1 -> 1). */
  pixdim: number[];
  /** Byte offset of the voxel data in the (decompressed) file. */
  voxOffset: number;
  /** Raw `scl_slope`. */
  sclSlope: number;
  /** Raw `scl_inter`. */
  sclInter: number;
  /** qform code (invalid codes read as 0, as nibabel does). */
  qformCode: number;
  /** sform code (invalid codes read as 0, as nibabel does). */
  sformCode: number;
  /** `quatern_b, quatern_c, quatern_d`. */
  quatern: [number, number, number];
  /** `qoffset_x, qoffset_y, qoffset_z`. */
  qoffset: [number, number, number];
  /** `srow_x, srow_y, srow_z`. */
  srow: [number[], number[], number[]];
  /** `xyzt_units`. */
  xyztUnits: number;
  /** `descrip`, trimmed at the first NUL. */
  descrip: string;
}

const NIFTI1_SIZE = 348;
const NIFTI2_SIZE = 540;

function cString(bytes: Uint8Array, start: number, length: number): string {
  let end = start;
  while (end < start + length && bytes[end] !== 0) end++;
  let s = '';
  for (let i = start; i < end; i++) s += String.fromCharCode(bytes[i]!);
  return s;
}

function printable(s: string): string {
  return JSON.stringify(s);
}

/**
 * Parses the header at the start of `bytes` (a whole, decompressed `.nii` file). `name` labels errors.
 * Throws `E_NIFTI_TRUNCATED` when the file is shorter than a header, `E_NIFTI_INVALID` for a wrong
 * size/magic or fields out of range, `E_NIFTI_UNSUPPORTED` for datatypes or layouts mrn does not read.
 */
export function parseNiftiHeader(bytes: Uint8Array, name: string): NiftiHeader {
  if (bytes.length < 4) {
    throw new MrnError(
      'E_NIFTI_TRUNCATED',
      `NIfTI file is ${bytes.length} bytes long, too short for a header`,
      {
        file: name,
      },
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const le = view.getInt32(0, true);
  const be = view.getInt32(0, false);
  let version: 1 | 2;
  let littleEndian: boolean;
  if (le === NIFTI1_SIZE || be === NIFTI1_SIZE) {
    version = 1;
    littleEndian = le === NIFTI1_SIZE;
  } else if (le === NIFTI2_SIZE || be === NIFTI2_SIZE) {
    version = 2;
    littleEndian = le === NIFTI2_SIZE;
  } else {
    throw new MrnError(
      'E_NIFTI_INVALID',
      `not a NIfTI file: sizeof_hdr is ${le} (expected 348 for NIfTI-1 or 540 for NIfTI-2, either byte order)`,
      { file: name },
    );
  }
  const size = version === 1 ? NIFTI1_SIZE : NIFTI2_SIZE;
  if (bytes.length < size) {
    throw new MrnError(
      'E_NIFTI_TRUNCATED',
      `NIfTI-${version} header truncated: file has ${bytes.length} bytes, the header needs ${size}`,
      { file: name },
    );
  }
  return version === 1
    ? parseNifti1(bytes, view, littleEndian, name)
    : parseNifti2(bytes, view, littleEndian, name);
}

function parseNifti1(bytes: Uint8Array, v: DataView, le: boolean, name: string): NiftiHeader {
  const magic = cString(bytes, 344, 4);
  if (magic === 'ni1') {
    throw new MrnError(
      'E_NIFTI_UNSUPPORTED',
      'NIfTI-1 header/image pairs (.hdr/.img, magic "ni1") are not read; convert to a single .nii file',
      { file: name },
    );
  }
  if (magic !== 'n+1') {
    throw new MrnError('E_NIFTI_INVALID', `bad NIfTI-1 magic ${printable(magic)} (expected "n+1")`, {
      file: name,
    });
  }
  const dim = Array.from({ length: 8 }, (_, i) => v.getInt16(40 + 2 * i, le));
  const pixdim = Array.from({ length: 8 }, (_, i) => v.getFloat32(76 + 4 * i, le));
  const f = (o: number) => v.getFloat32(o, le);
  const hdr: NiftiHeader = {
    version: 1,
    littleEndian: le,
    sizeofHdr: NIFTI1_SIZE,
    dim,
    datatype: v.getInt16(70, le),
    pixdim,
    voxOffset: f(108),
    sclSlope: f(112),
    sclInter: f(116),
    qformCode: v.getInt16(252, le),
    sformCode: v.getInt16(254, le),
    quatern: [f(256), f(260), f(264)],
    qoffset: [f(268), f(272), f(276)],
    srow: [0, 1, 2].map((r) => [0, 1, 2, 3].map((c) => f(280 + 16 * r + 4 * c))) as NiftiHeader['srow'],
    xyztUnits: bytes[123]!,
    descrip: cString(bytes, 148, 80),
  };
  return fixHeader(hdr, name);
}

function parseNifti2(bytes: Uint8Array, v: DataView, le: boolean, name: string): NiftiHeader {
  const magic = cString(bytes, 4, 8);
  if (magic === 'ni2') {
    throw new MrnError(
      'E_NIFTI_UNSUPPORTED',
      'NIfTI-2 header/image pairs (magic "ni2") are not read; convert to a single .nii file',
      { file: name },
    );
  }
  if (magic !== 'n+2' || bytes[8] !== 0x0d || bytes[9] !== 0x0a || bytes[10] !== 0x1a || bytes[11] !== 0x0a) {
    throw new MrnError(
      'E_NIFTI_INVALID',
      `bad NIfTI-2 magic ${printable(magic)} (expected "n+2\\0\\r\\n\\x1a\\n")`,
      {
        file: name,
      },
    );
  }
  const i64 = (o: number, field: string) => {
    const x = v.getBigInt64(o, le);
    if (x > BigInt(Number.MAX_SAFE_INTEGER) || x < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw new MrnError('E_NIFTI_INVALID', `NIfTI-2 field ${field} = ${x} is out of range`, { file: name });
    }
    return Number(x);
  };
  const d = (o: number) => v.getFloat64(o, le);
  const hdr: NiftiHeader = {
    version: 2,
    littleEndian: le,
    sizeofHdr: NIFTI2_SIZE,
    dim: Array.from({ length: 8 }, (_, i) => i64(16 + 8 * i, `dim[${i}]`)),
    datatype: v.getInt16(12, le),
    pixdim: Array.from({ length: 8 }, (_, i) => d(104 + 8 * i)),
    voxOffset: i64(168, 'vox_offset'),
    sclSlope: d(176),
    sclInter: d(184),
    qformCode: v.getInt32(344, le),
    sformCode: v.getInt32(348, le),
    quatern: [d(352), d(360), d(368)],
    qoffset: [d(376), d(384), d(392)],
    srow: [0, 1, 2].map((r) => [0, 1, 2, 3].map((c) => d(400 + 32 * r + 8 * c))) as NiftiHeader['srow'],
    xyztUnits: v.getInt32(500, le),
    descrip: cString(bytes, 240, 80),
  };
  return fixHeader(hdr, name);
}

/** Validates dims/datatype/offset and applies the silent fixes nibabel applies on load. */
function fixHeader(hdr: NiftiHeader, name: string): NiftiHeader {
  const ndim = hdr.dim[0]!;
  if (!(ndim >= 1 && ndim <= 7)) {
    throw new MrnError('E_NIFTI_INVALID', `dim[0] = ${ndim} is out of range (expected 1..7)`, { file: name });
  }
  for (let i = 1; i <= ndim; i++) {
    if (!(hdr.dim[i]! >= 1)) {
      throw new MrnError(
        'E_NIFTI_INVALID',
        `dim[${i}] = ${hdr.dim[i]} is not a positive size (dim = [${hdr.dim.slice(0, ndim + 1).join(', ')}])`,
        { file: name },
      );
    }
  }
  if (!(hdr.datatype in NIFTI_DATATYPES)) {
    const known = UNSUPPORTED_DATATYPES[hdr.datatype];
    throw new MrnError(
      known ? 'E_NIFTI_UNSUPPORTED' : 'E_NIFTI_INVALID',
      known
        ? `NIfTI datatype ${hdr.datatype} (${known}) is not supported; mrn reads uint8, int8, int16, uint16, int32, uint32, int64, uint64, float32, float64`
        : `unknown NIfTI datatype code ${hdr.datatype}`,
      { file: name },
    );
  }
  const minOffset = hdr.sizeofHdr + 4;
  if (hdr.voxOffset === 0) {
    // Unset offset in a single file: the data follows the header and the 4-byte extension flag.
    hdr.voxOffset = minOffset;
  } else if (
    !Number.isFinite(hdr.voxOffset) ||
    hdr.voxOffset < minOffset ||
    !Number.isInteger(hdr.voxOffset)
  ) {
    throw new MrnError(
      'E_NIFTI_INVALID',
      `vox_offset = ${hdr.voxOffset} is invalid for a single-file NIfTI-${hdr.version} (must be an integer >= ${minOffset})`,
      { file: name },
    );
  }
  // nibabel's fixes: spatial pixdims zero -> 1, negative -> abs; qfac not +-1 -> 1; unknown xform codes -> 0.
  for (let i = 1; i <= 3; i++) {
    const p = hdr.pixdim[i]!;
    if (p === 0) hdr.pixdim[i] = 1;
    else if (p < 0) hdr.pixdim[i] = -p;
  }
  if (hdr.pixdim[0] !== 1 && hdr.pixdim[0] !== -1) hdr.pixdim[0] = 1;
  if (!(hdr.qformCode >= 0 && hdr.qformCode <= 5)) hdr.qformCode = 0;
  if (!(hdr.sformCode >= 0 && hdr.sformCode <= 5)) hdr.sformCode = 0;
  return hdr;
}

/** Fields needed to write a NIfTI-1 header. */
export interface NiftiHeaderFields {
  shape: readonly [number, number, number];
  datatype: number;
  bitpix: number;
  pixdim: readonly [number, number, number, number];
  sclSlope: number;
  sclInter: number;
  qformCode: number;
  sformCode: number;
  quatern: readonly [number, number, number];
  qoffset: readonly [number, number, number];
  srow: readonly (readonly number[])[];
  descrip?: string;
}

/**
 * Serialises a little-endian single-file NIfTI-1 header plus the 4-byte "no extensions" flag (352
 * bytes; the voxel data follows at offset 352). Units: mm and seconds (`xyzt_units` = 10).
 */
export function writeNifti1Header(fields: NiftiHeaderFields): Uint8Array {
  const bytes = new Uint8Array(352);
  const v = new DataView(bytes.buffer);
  v.setInt32(0, NIFTI1_SIZE, true);
  bytes[38] = 'r'.charCodeAt(0); // "regular", as nibabel writes it
  const dims = [3, fields.shape[0], fields.shape[1], fields.shape[2], 1, 1, 1, 1];
  dims.forEach((d, i) => v.setInt16(40 + 2 * i, d, true));
  v.setInt16(70, fields.datatype, true);
  v.setInt16(72, fields.bitpix, true);
  const pixdim = [fields.pixdim[0], fields.pixdim[1], fields.pixdim[2], fields.pixdim[3], 1, 1, 1, 1];
  pixdim.forEach((p, i) => v.setFloat32(76 + 4 * i, p, true));
  v.setFloat32(108, 352, true);
  v.setFloat32(112, fields.sclSlope, true);
  v.setFloat32(116, fields.sclInter, true);
  bytes[123] = 2 | 8; // NIFTI_UNITS_MM | NIFTI_UNITS_SEC
  const descrip = (fields.descrip ?? '').slice(0, 79);
  for (let i = 0; i < descrip.length; i++) bytes[148 + i] = descrip.charCodeAt(i) & 0x7f;
  v.setInt16(252, fields.qformCode, true);
  v.setInt16(254, fields.sformCode, true);
  fields.quatern.forEach((q, i) => v.setFloat32(256 + 4 * i, q, true));
  fields.qoffset.forEach((q, i) => v.setFloat32(268 + 4 * i, q, true));
  for (let r = 0; r < 3; r++)
    for (let c = 0; c < 4; c++) v.setFloat32(280 + 16 * r + 4 * c, fields.srow[r]![c]!, true);
  bytes[344] = 'n'.charCodeAt(0);
  bytes[345] = '+'.charCodeAt(0);
  bytes[346] = '1'.charCodeAt(0);
  return bytes;
}
