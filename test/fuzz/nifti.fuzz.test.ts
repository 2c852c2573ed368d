import fc from 'fast-check';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodeNifti, readNifti } from '../../src/io/nifti-reader.js';
import type { Volume } from '../../src/preprocess/volume.js';
import type { MrnErrorCode } from '../../src/errors.js';
import {
  byteMutation,
  decodeOrMrnError,
  decodeOrMrnErrorAsync,
  EXTREME_FLOATS,
  EXTREME_INTS,
  fuzzParams,
  fuzzTimeout,
  mutate,
} from './fuzz-support.js';
import { buildNifti, NIFTI1_BOUNDARIES, NIFTI2_BOUNDARIES, type NiftiSpec } from './nifti-builder.js';

// Every input, however broken, decodes to a consistent volume or throws one of these, naming the file.
const CODES: MrnErrorCode[] = ['E_NIFTI_TRUNCATED', 'E_NIFTI_INVALID', 'E_NIFTI_UNSUPPORTED'];
const BYTES: Record<number, number> = {
  2: 1,
  4: 2,
  8: 4,
  16: 4,
  64: 8,
  256: 1,
  512: 2,
  768: 4,
  1024: 8,
  1280: 8,
};

/** Deterministic filler bytes (cheap to shrink: one integer instead of an array). */
function filler(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let s = seed | 1;
  for (let i = 0; i < length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = s & 0xff;
  }
  return out;
}

const extremeInt = fc.oneof(fc.constantFrom(...EXTREME_INTS), fc.integer());
const extremeFloat = fc.oneof(fc.constantFrom(...EXTREME_FLOATS), fc.double());

/** A valid header (small volume), as a writer might produce it. */
const validSpec: fc.Arbitrary<NiftiSpec> = fc
  .record({
    version: fc.constantFrom(1 as const, 2 as const),
    littleEndian: fc.boolean(),
    shape: fc.tuple(
      fc.integer({ min: 1, max: 6 }),
      fc.integer({ min: 1, max: 6 }),
      fc.integer({ min: 1, max: 5 }),
    ),
    ndim: fc.constantFrom(3, 4, 5),
    datatype: fc.constantFrom(...Object.keys(BYTES).map(Number)),
    pixdim: fc.tuple(fc.constantFrom(1, -1, 0), fc.double({ min: 0.1, max: 3, noNaN: true })),
    sclSlope: fc.constantFrom(0, 1, 2.5, NaN),
    sclInter: fc.constantFrom(0, 1, -3),
    qformCode: fc.integer({ min: 0, max: 2 }),
    sformCode: fc.integer({ min: 0, max: 2 }),
    quatern: fc.tuple(...[0, 1, 2].map(() => fc.double({ min: -0.57, max: 0.57, noNaN: true }))),
    srow: fc.array(fc.double({ min: -200, max: 200, noNaN: true }), { minLength: 12, maxLength: 12 }),
    gap: fc.constantFrom(0, 4, 12),
    seed: fc.integer(),
  })
  .map((r) => {
    const dim = [r.ndim, ...r.shape, 1, 1, 1, 1];
    const hdr = r.version === 1 ? 348 : 540;
    const n = r.shape[0] * r.shape[1] * r.shape[2];
    const voxOffset = r.gap === 0 ? 0 : hdr + 4 + r.gap;
    const dataStart = r.gap === 0 ? hdr + 4 : voxOffset;
    return {
      version: r.version,
      littleEndian: r.littleEndian,
      dim,
      datatype: r.datatype,
      bitpix: BYTES[r.datatype]! * 8,
      pixdim: [r.pixdim[0], r.pixdim[1], r.pixdim[1], 2, 1, 1, 1, 1],
      voxOffset,
      sclSlope: r.sclSlope,
      sclInter: r.sclInter,
      qformCode: r.qformCode,
      sformCode: r.sformCode,
      quatern: r.quatern,
      qoffset: [-10, 20, 5],
      srow: r.srow,
      body: filler(dataStart - hdr + n * BYTES[r.datatype]!, r.seed),
    };
  });

/** Extreme values for any header field the reader uses, on top of a valid header. */
const hostileSpec: fc.Arbitrary<NiftiSpec> = fc
  .tuple(
    validSpec,
    fc.record(
      {
        dim: fc.tuple(fc.integer({ min: 0, max: 7 }), extremeInt),
        datatype: fc.oneof(extremeInt, fc.constantFrom(1, 32, 128, 1536, 1792, 2048, 2304, 3, 511)),
        voxOffset: fc.oneof(extremeFloat, extremeInt),
        sclSlope: extremeFloat,
        sclInter: extremeFloat,
        qformCode: extremeInt,
        sformCode: extremeInt,
        pixdim: fc.tuple(fc.integer({ min: 0, max: 7 }), extremeFloat),
        quatern: fc.tuple(fc.integer({ min: 0, max: 2 }), extremeFloat),
        qoffset: fc.tuple(fc.integer({ min: 0, max: 2 }), extremeFloat),
        srow: fc.tuple(fc.integer({ min: 0, max: 11 }), extremeFloat),
        bodyDelta: fc.integer({ min: -64, max: 64 }),
      },
      { requiredKeys: [] },
    ),
  )
  .map(([s, o]) => {
    const spec: NiftiSpec = {
      ...s,
      dim: [...s.dim],
      pixdim: [...s.pixdim],
      quatern: [...s.quatern],
      qoffset: [...s.qoffset],
      srow: [...s.srow],
    };
    if (o.dim) spec.dim[o.dim[0]] = o.dim[1];
    if (o.datatype !== undefined) spec.datatype = o.datatype;
    if (o.voxOffset !== undefined) spec.voxOffset = o.voxOffset;
    if (o.sclSlope !== undefined) spec.sclSlope = o.sclSlope;
    if (o.sclInter !== undefined) spec.sclInter = o.sclInter;
    if (o.qformCode !== undefined) spec.qformCode = o.qformCode;
    if (o.sformCode !== undefined) spec.sformCode = o.sformCode;
    if (o.pixdim) spec.pixdim[o.pixdim[0]] = o.pixdim[1];
    if (o.quatern) spec.quatern[o.quatern[0]] = o.quatern[1];
    if (o.qoffset) spec.qoffset[o.qoffset[0]] = o.qoffset[1];
    if (o.srow) spec.srow[o.srow[0]] = o.srow[1];
    if (o.bodyDelta) {
      const len = Math.max(0, spec.body.length + o.bodyDelta);
      const body = new Uint8Array(len);
      body.set(spec.body.subarray(0, len));
      spec.body = body;
    }
    return spec;
  });

/** What a decoded volume must satisfy, whatever the input. */
function checkVolume(vol: Volume, rawLength: number): void {
  const [x, y, z] = vol.shape;
  expect(vol.data.data.length).toBe(x * y * z);
  expect(vol.affine.flat().every(Number.isFinite)).toBe(true);
  // Memory bound: the voxels come from the file's own bytes; scaling widens them to float32 at most 4x.
  expect(vol.data.data.byteLength).toBeLessThanOrEqual(4 * rawLength);
}

function decode(bytes: Uint8Array, name: string): void {
  const vol = decodeOrMrnError(() => decodeNifti(bytes, { name }), name, CODES);
  if (vol) checkVolume(vol, name.endsWith('.gz') ? 1032 * bytes.length : bytes.length);
}

const gzipBoundaries = (n: number) => [0, 1, 2, 3, 4, 9, 10, Math.floor(n / 2), n - 8, n - 4, n - 1];

describe('NIfTI reader under fuzzing (.nii and .nii.gz)', () => {
  it(
    'valid headers decode',
    () => {
      fc.assert(
        fc.property(validSpec, (spec) => {
          const bytes = buildNifti(spec);
          const vol = decodeOrMrnError(() => decodeNifti(bytes, { name: 'valid.nii' }), 'valid.nii', CODES);
          // Only the random quaternion may be invalid (b²+c²+d² > 1); everything else must decode.
          if (!vol) return;
          checkVolume(vol, bytes.length);
          expect(vol.shape).toEqual(spec.dim.slice(1, 4));
        }),
        fuzzParams(500),
      );
    },
    fuzzTimeout(500),
  );

  it(
    'extreme header fields (dims, datatype, vox_offset, scl_*, xform codes, pixdim, sizes)',
    () => {
      fc.assert(
        fc.property(hostileSpec, fc.boolean(), (spec, gz) => {
          const bytes = buildNifti(spec);
          if (gz) decode(gzipSync(bytes, { level: 1 }), 'hostile.nii.gz');
          else decode(bytes, 'hostile.nii');
        }),
        fuzzParams(2500),
      );
    },
    fuzzTimeout(2500),
  );

  it(
    'truncations at every header boundary, bit flips and overwrites of .nii',
    () => {
      fc.assert(
        fc.property(
          validSpec.chain((spec) => {
            const bytes = buildNifti(spec);
            const bounds = [...(spec.version === 1 ? NIFTI1_BOUNDARIES : NIFTI2_BOUNDARIES), bytes.length];
            return fc.tuple(
              fc.constant(bytes),
              byteMutation(bytes.length, bounds, spec.version === 1 ? 352 : 544),
            );
          }),
          ([bytes, m]) => decode(mutate(bytes, m), 'mutated.nii'),
        ),
        fuzzParams(2000),
      );
    },
    fuzzTimeout(2000),
  );

  it(
    'truncated, bit-flipped and overwritten .nii.gz streams',
    () => {
      fc.assert(
        fc.property(
          validSpec.chain((spec) => {
            const gz = gzipSync(buildNifti(spec), { level: 1 });
            return fc.tuple(fc.constant(gz), byteMutation(gz.length, gzipBoundaries(gz.length)));
          }),
          ([gz, m]) => decode(mutate(gz, m), 'mutated.nii.gz'),
        ),
        fuzzParams(1500),
      );
    },
    fuzzTimeout(1500),
  );

  it(
    'wrong gzip trailers (CRC, ISIZE), missing trailers, trailing garbage, extra members',
    () => {
      const trailer = fc.oneof(
        fc.record({ kind: fc.constant('crc' as const), value: fc.integer({ min: 0, max: 2 ** 32 - 1 }) }),
        fc.record({
          kind: fc.constant('isize' as const),
          value: fc.oneof(
            fc.constantFrom(0, 1, 347, 348, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1),
            fc.integer({ min: 0, max: 2 ** 32 - 1 }),
          ),
        }),
        fc.record({ kind: fc.constant('cut' as const), value: fc.integer({ min: 1, max: 8 }) }),
        fc.record({ kind: fc.constant('garbage' as const), value: fc.integer() }),
        fc.record({ kind: fc.constant('member' as const), value: fc.integer() }),
      );
      fc.assert(
        fc.property(validSpec, trailer, (spec, t) => {
          const raw = buildNifti(spec);
          let gz = gzipSync(raw, { level: 1 });
          const n = gz.length;
          if (t.kind === 'crc' || t.kind === 'isize') {
            gz = gz.slice();
            new DataView(gz.buffer).setUint32(t.kind === 'crc' ? n - 8 : n - 4, t.value, true);
          } else if (t.kind === 'cut') {
            gz = gz.slice(0, n - t.value);
          } else if (t.kind === 'garbage') {
            gz = Buffer.concat([gz, filler(1 + (t.value & 63), t.value)]);
          } else {
            gz = Buffer.concat([gz, gzipSync(filler(100, t.value))]);
          }
          decode(gz, 'trailer.nii.gz');
        }),
        fuzzParams(1000),
      );
    },
    fuzzTimeout(1000),
  );

  it(
    'readNifti on files (.nii and .nii.gz): the error names the path',
    async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mrn-fuzz-nifti-'));
      try {
        await fc.assert(
          fc.asyncProperty(hostileSpec, fc.boolean(), async (spec, gz) => {
            const file = path.join(dir, gz ? 'case.nii.gz' : 'case.nii');
            const raw = buildNifti(spec);
            fs.writeFileSync(file, gz ? gzipSync(raw, { level: 1 }) : raw);
            const vol = await decodeOrMrnErrorAsync(() => readNifti(file), file, CODES);
            if (vol) checkVolume(vol, gz ? 1032 * fs.statSync(file).size : raw.length);
          }),
          fuzzParams(200),
        );
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
    fuzzTimeout(200, 50),
  );
});
