/**
 * Ten different ways a PDCAD case folder arrives broken, each with the error code mrn must report
 * for it (used by test/e2e/predict-broken.test.ts and bench/predict-broken.ts).
 */

import fs from 'node:fs';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { readNifti } from '../../src/io/nifti-reader.js';
import { writeNifti } from '../../src/io/nifti-writer.js';
import { createVolume } from '../../src/preprocess/volume.js';

/** One way to break a case folder. */
export interface CaseBreak {
  /** What is done, in words. */
  how: string;
  /** The error code expected in pred.details.csv. */
  code: string;
  /** Breaks the case folder `dir` in place. */
  apply: (dir: string) => Promise<void> | void;
}

/** The 10 ways a case is broken: what is done to which file, and the error code expected. */
export const BREAKS: CaseBreak[] = [
  {
    how: 'QSM.nii.gz cut in half',
    code: 'E_NIFTI_TRUNCATED',
    apply: (d) => cut(path.join(d, 'QSM.nii.gz'), 0.5),
  },
  { how: 'NM.nii.gz missing', code: 'E_FILE_NOT_FOUND', apply: (d) => fs.rmSync(path.join(d, 'NM.nii.gz')) },
  {
    how: 'QSM_mask.nii.gz replaced by random bytes',
    code: 'E_NIFTI_INVALID',
    apply: (d) =>
      fs.writeFileSync(
        path.join(d, 'QSM_mask.nii.gz'),
        Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) & 0xff)),
      ),
  },
  {
    how: 'NM.nii.gz with a wrong gzip CRC',
    code: 'E_NIFTI_INVALID',
    apply: (d) => {
      const f = path.join(d, 'NM.nii.gz');
      const b = fs.readFileSync(f);
      b[b.length - 8] ^= 0xff;
      fs.writeFileSync(f, b);
    },
  },
  {
    how: 'NM.nii.gz on a grid shifted by 5 mm',
    code: 'E_GRID_MISMATCH',
    apply: async (d) => {
      const f = path.join(d, 'NM.nii.gz');
      const v = await readNifti(f);
      const affine = v.affine.map((r) => [...r]);
      affine[0]![3]! += 5;
      await writeNifti(createVolume(v.data.data, v.shape, affine), f);
    },
  },
  {
    how: 'QSM.nii.gz with NaN voxels',
    code: 'E_NON_FINITE',
    apply: async (d) => {
      const f = path.join(d, 'QSM.nii.gz');
      const v = await readNifti(f);
      const values = Float32Array.from(v.data.data);
      values.fill(NaN, 0, 100);
      await writeNifti(createVolume(values, v.shape, v.affine), f);
    },
  },
  {
    how: 'QSM_mask.nii.gz without any nucleus label',
    code: 'E_LABEL_MISSING',
    apply: async (d) => {
      const f = path.join(d, 'QSM_mask.nii.gz');
      const v = await readNifti(f);
      await writeNifti(createVolume(new Uint8Array(v.data.data.length), v.shape, v.affine), f);
    },
  },
  {
    how: 'QSM.nii.gz is 4-D with 2 volumes',
    code: 'E_NIFTI_UNSUPPORTED',
    apply: (d) =>
      patchHeader(path.join(d, 'QSM.nii.gz'), (v, raw) => {
        v.setInt16(40, 4, true);
        v.setInt16(48, 2, true);
        const voxOffset = v.getFloat32(108, true);
        return Buffer.concat([raw, raw.subarray(voxOffset)]);
      }),
  },
  {
    how: 'NM.nii.gz with datatype complex64',
    code: 'E_NIFTI_UNSUPPORTED',
    apply: (d) =>
      patchHeader(path.join(d, 'NM.nii.gz'), (v, raw) => {
        v.setInt16(70, 32, true);
        return raw;
      }),
  },
  {
    how: 'QSM.nii.gz empty (0 bytes)',
    code: 'E_NIFTI_TRUNCATED',
    apply: (d) => cut(path.join(d, 'QSM.nii.gz'), 0),
  },
];

function cut(file: string, fraction: number): void {
  const b = fs.readFileSync(file);
  fs.writeFileSync(file, b.subarray(0, Math.floor(b.length * fraction)));
}

function patchHeader(file: string, edit: (v: DataView, raw: Buffer) => Buffer): void {
  const raw = gunzipSync(fs.readFileSync(file));
  const out = edit(new DataView(raw.buffer, raw.byteOffset, raw.byteLength), raw);
  fs.writeFileSync(file, gzipSync(out, { level: 1 }));
}
