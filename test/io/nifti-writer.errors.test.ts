/** Values or affines writeNifti cannot store, and paths it cannot write, give an MrnError naming the problem. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createVolume, encodeNifti, writeNifti } from '../../src/index.js';

const tmp = mkdtempSync(join(tmpdir(), 'mrn-nifti-err-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('writeNifti rejects what it cannot store', () => {
  const eye = [
    [1, 0, 0, 0],
    [0, 1, 0, 0],
    [0, 0, 1, 0],
    [0, 0, 0, 1],
  ];
  it('non-integer or out-of-range values for integer datatypes', async () => {
    const v = createVolume(Float32Array.from([0, 1, 2.5, 3, 4, 5, 6, 7]), [2, 2, 2], eye, 'pred');
    await expect(writeNifti(v, join(tmp, 'p.nii'), { datatype: 'uint8' })).rejects.toThrow(
      /voxel 2 = 2.5 cannot be stored as uint8 .*p\.nii/,
    );
    const big = createVolume(Float32Array.from([0, 1, 2, 3, 4, 5, 6, 300]), [2, 2, 2], eye);
    expect(() => encodeNifti(big, { datatype: 'uint8' })).toThrow(/voxel 7 = 300 cannot be stored as uint8/);
    expect(() => encodeNifti(big, { datatype: 'int16' })).not.toThrow();
  });

  it('a degenerate affine and an unwritable path', async () => {
    const flat = createVolume(
      new Uint8Array(8),
      [2, 2, 2],
      [
        [1, 0, 0, 0],
        [0, 0, 0, 0],
        [0, 0, 1, 0],
        [0, 0, 0, 1],
      ],
    );
    expect(() => encodeNifti(flat)).toThrow(/affine cannot be stored/);
    const v = createVolume(new Uint8Array(8), [2, 2, 2], eye);
    await expect(writeNifti(v, join(tmp, 'no/such/dir/x.nii'))).rejects.toMatchObject({ code: 'E_IO' });
  });
});
