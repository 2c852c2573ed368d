/**
 * Bad NIfTI input gives an MrnError with a stable code and a message naming the file and the
 * problem, never a silent zero volume or a crash inside a typed-array constructor. Broken files are
 * made here by editing bytes of good fixtures.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { isMrnError, readNifti, type MrnErrorCode } from '../../src/index.js';
import { rejectionOf } from '../helpers/errors.js';

const dir = fileURLToPath(new URL('../fixtures/nifti/in/', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'mrn-nifti-err-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A good little-endian NIfTI-1 float32 file (7x6x5, 352-byte header), decompressed. */
const good = (): Uint8Array => new Uint8Array(readFileSync(`${dir}float32_nonfinite.nii`));
const edit = (f: (v: DataView, b: Uint8Array) => void): Uint8Array => {
  const b = good();
  f(new DataView(b.buffer, b.byteOffset, b.byteLength), b);
  return b;
};

async function expectError(source: Uint8Array | string, code: MrnErrorCode, message: RegExp): Promise<void> {
  const name = 'case/broken.nii';
  const error = await rejectionOf(() => readNifti(source, { name }));
  expect(isMrnError(error, code), `expected ${code}, got ${String(error)}`).toBe(true);
  expect((error as Error).message).toMatch(message);
  expect((error as Error).message).toContain(typeof source === 'string' ? name : name);
}

describe('readNifti rejects bad input clearly', () => {
  it('reads the unbroken file (the edits below are what breaks it)', async () => {
    const v = await readNifti(good(), { name: 'ok.nii' });
    expect(v.shape).toEqual([7, 6, 5]);
  });

  it('truncated header', async () => {
    await expectError(
      good().subarray(0, 200),
      'E_NIFTI_TRUNCATED',
      /header truncated: file has 200 bytes, the header needs 348/,
    );
    await expectError(good().subarray(0, 2), 'E_NIFTI_TRUNCATED', /too short for a header/);
  });

  it('truncated voxel data', async () => {
    const b = good();
    await expectError(
      b.subarray(0, b.length - 10),
      'E_NIFTI_TRUNCATED',
      /voxel data truncated: .*needs 840 bytes from offset 352, the file has 830/,
    );
  });

  it('wrong sizeof_hdr and wrong magic', async () => {
    await expectError(
      edit((v) => v.setInt32(0, 1234, true)),
      'E_NIFTI_INVALID',
      /not a NIfTI file: sizeof_hdr is 1234/,
    );
    await expectError(
      edit((_, b) => b.set([0x6e, 0x2b, 0x33, 0], 344)),
      'E_NIFTI_INVALID',
      /bad NIfTI-1 magic "n\+3"/,
    );
    await expectError(
      edit((_, b) => b.set([0x6e, 0x69, 0x31, 0], 344)),
      'E_NIFTI_UNSUPPORTED',
      /header\/image pairs/,
    );
  });

  it('unsupported and unknown datatypes', async () => {
    await expectError(
      edit((v) => v.setInt16(70, 32, true)),
      'E_NIFTI_UNSUPPORTED',
      /datatype 32 \(complex64\) is not supported/,
    );
    await expectError(
      edit((v) => v.setInt16(70, 77, true)),
      'E_NIFTI_INVALID',
      /unknown NIfTI datatype code 77/,
    );
  });

  it('negative, zero and out-of-range dims', async () => {
    await expectError(
      edit((v) => v.setInt16(44, -6, true)),
      'E_NIFTI_INVALID',
      /dim\[2\] = -6 is not a positive size/,
    );
    await expectError(
      edit((v) => v.setInt16(46, 0, true)),
      'E_NIFTI_INVALID',
      /dim\[3\] = 0 is not a positive size/,
    );
    await expectError(
      edit((v) => v.setInt16(40, 0, true)),
      'E_NIFTI_INVALID',
      /dim\[0\] = 0 is out of range/,
    );
    await expectError(
      edit((v) => v.setInt16(40, 9, true)),
      'E_NIFTI_INVALID',
      /dim\[0\] = 9 is out of range/,
    );
  });

  it('vox_offset past the end or inside the header', async () => {
    await expectError(
      edit((v) => v.setFloat32(108, 5000, true)),
      'E_NIFTI_INVALID',
      /vox_offset 5000 is past the end of the file \(1192 bytes\)/,
    );
    await expectError(
      edit((v) => v.setFloat32(108, 100, true)),
      'E_NIFTI_INVALID',
      /vox_offset = 100 is invalid/,
    );
  });

  it('true 4D is refused; one volume is fine', async () => {
    const four = edit((v) => {
      v.setInt16(40, 4, true);
      v.setInt16(48, 2, true);
    });
    await expectError(four, 'E_NIFTI_UNSUPPORTED', /image is 4D with shape \[7, 6, 5, 2\]/);
  });

  it('gzip garbage and truncated gzip', async () => {
    const junk = new Uint8Array(64).map((_, i) => (i * 37 + 11) & 0xff);
    junk.set([0x1f, 0x8b, 8, 0], 0);
    await expectError(junk, 'E_NIFTI_INVALID', /corrupt gzip data/);
    const gz = gzipSync(good());
    await expectError(gz.subarray(0, gz.length - 40), 'E_NIFTI_TRUNCATED', /gzip stream ends early/);
    // a valid gzip around a broken header still reports the header problem
    const inner = gunzipSync(gzipSync(edit((v) => v.setInt16(70, 32, true))));
    await expectError(gzipSync(inner), 'E_NIFTI_UNSUPPORTED', /complex64/);
  });

  it('bad scaling and transforms', async () => {
    await expectError(
      edit((v) => {
        v.setFloat32(112, 2, true);
        v.setFloat32(116, Infinity, true);
      }),
      'E_NIFTI_INVALID',
      /valid scl_slope 2 but invalid scl_inter Infinity/,
    );
    await expectError(
      edit((v) => {
        v.setInt16(254, 0, true); // sform off -> qform used
        v.setFloat32(256, 0.9, true);
        v.setFloat32(260, 0.9, true);
      }),
      'E_NIFTI_INVALID',
      /not a unit quaternion/,
    );
    await expectError(
      edit((v) => v.setFloat32(284, NaN, true)),
      'E_NIFTI_INVALID',
      /sform affine holds NaN/,
    );
  });

  it('int64 values beyond 2^53', async () => {
    const b = new Uint8Array(readFileSync(`${dir}int64_large.nii`));
    new DataView(b.buffer).setBigInt64(352 + 8 * 3, 2n ** 60n, true);
    await expectError(
      b,
      'E_NIFTI_UNSUPPORTED',
      /int64 voxel values span .*beyond the exactly representable range/,
    );
  });

  it('missing files and wrong source types', async () => {
    let e: unknown;
    try {
      await readNifti(join(tmp, 'nope.nii.gz'));
    } catch (err) {
      e = err;
    }
    expect(isMrnError(e, 'E_FILE_NOT_FOUND')).toBe(true);
    expect((e as Error).message).toContain('nope.nii.gz');
    await expect(readNifti(42 as unknown as string)).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT' });
  });
});
