/**
 * Builds NIfTI-1 and NIfTI-2 files (either byte order) with every header field the reader uses set
 * freely, including values no writer would produce, for the NIfTI fuzz tests.
 */

/** Header fields of a fuzzed NIfTI file (numbers are stored as the field's type stores them). */
export interface NiftiSpec {
  version: 1 | 2;
  littleEndian: boolean;
  dim: number[];
  datatype: number;
  bitpix: number;
  pixdim: number[];
  voxOffset: number;
  sclSlope: number;
  sclInter: number;
  qformCode: number;
  sformCode: number;
  quatern: number[];
  qoffset: number[];
  srow: number[];
  /** Bytes after the header (extension flag, padding and voxel data). */
  body: Uint8Array;
}

/** Byte offsets where a NIfTI-1 header's fields begin (truncation points). */
export const NIFTI1_BOUNDARIES = [
  0, 4, 38, 40, 56, 70, 72, 76, 108, 112, 116, 120, 123, 148, 252, 254, 256, 268, 280, 344, 348, 352,
];
/** Byte offsets where a NIfTI-2 header's fields begin. */
export const NIFTI2_BOUNDARIES = [
  0, 4, 12, 14, 16, 80, 104, 168, 176, 184, 240, 344, 348, 352, 376, 400, 496, 500, 540, 544,
];

function int64(v: number): bigint {
  if (!Number.isFinite(v)) return 0n;
  return BigInt.asIntN(64, BigInt(Math.trunc(v)));
}

/** Serialises `spec` as a single-file NIfTI (header + body). */
export function buildNifti(spec: NiftiSpec): Uint8Array {
  const size = spec.version === 1 ? 348 : 540;
  const out = new Uint8Array(size + spec.body.length);
  const v = new DataView(out.buffer);
  const le = spec.littleEndian;
  v.setInt32(0, size, le);
  if (spec.version === 1) {
    spec.dim.forEach((d, i) => v.setInt16(40 + 2 * i, d, le));
    v.setInt16(70, spec.datatype, le);
    v.setInt16(72, spec.bitpix, le);
    spec.pixdim.forEach((p, i) => v.setFloat32(76 + 4 * i, p, le));
    v.setFloat32(108, spec.voxOffset, le);
    v.setFloat32(112, spec.sclSlope, le);
    v.setFloat32(116, spec.sclInter, le);
    out[123] = 10;
    v.setInt16(252, spec.qformCode, le);
    v.setInt16(254, spec.sformCode, le);
    spec.quatern.forEach((q, i) => v.setFloat32(256 + 4 * i, q, le));
    spec.qoffset.forEach((q, i) => v.setFloat32(268 + 4 * i, q, le));
    spec.srow.forEach((s, i) => v.setFloat32(280 + 4 * i, s, le));
    out.set([0x6e, 0x2b, 0x31, 0], 344); // "n+1\0"
  } else {
    out.set([0x6e, 0x2b, 0x32, 0, 0x0d, 0x0a, 0x1a, 0x0a], 4); // "n+2\0\r\n\x1a\n"
    v.setInt16(12, spec.datatype, le);
    v.setInt16(14, spec.bitpix, le);
    spec.dim.forEach((d, i) => v.setBigInt64(16 + 8 * i, int64(d), le));
    spec.pixdim.forEach((p, i) => v.setFloat64(104 + 8 * i, p, le));
    v.setBigInt64(168, int64(spec.voxOffset), le);
    v.setFloat64(176, spec.sclSlope, le);
    v.setFloat64(184, spec.sclInter, le);
    v.setInt32(344, spec.qformCode, le);
    v.setInt32(348, spec.sformCode, le);
    spec.quatern.forEach((q, i) => v.setFloat64(352 + 8 * i, q, le));
    spec.qoffset.forEach((q, i) => v.setFloat64(376 + 8 * i, q, le));
    spec.srow.forEach((s, i) => v.setFloat64(400 + 8 * i, s, le));
    v.setInt32(500, 10, le);
  }
  out.set(spec.body, size);
  return out;
}
