/**
 * 4-D NIfTI (multi-echo QSM, series): `readNifti(path, { volume: i })` reads what nibabel's
 * `np.asanyarray(img.dataobj[..., i])` holds (scaling, datatypes, byte orders, NIfTI-1 and -2). Every
 * file in test/fixtures/nifti/in-4d was written by nibabel (make_fixtures.py multivolume) and
 * reference-4d.json holds nibabel's decoding of each volume.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { decodeNifti, isMrnError, readNifti } from '../../src/index.js';

const dir = fileURLToPath(new URL('../fixtures/nifti/', import.meta.url));

interface RefVolume {
  shape: number[];
  dtype: string;
  values: number[];
}
const reference = JSON.parse(readFileSync(`${dir}reference-4d.json`, 'utf8')) as {
  files: Record<string, { note: string; shape: number[]; affine: number[][]; volumes: RefVolume[] }>;
};

async function rejection(p: Promise<unknown>): Promise<Error> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e, 'expected a rejection').toBeInstanceOf(Error);
  return e as Error;
}

describe('readNifti on 4-D files written by nibabel', () => {
  const files = Object.entries(reference.files);
  it('covers several datatypes, scaling, both byte orders and NIfTI-2', () => {
    expect(files.length).toBeGreaterThanOrEqual(7);
    expect(files.some(([f]) => f.startsWith('nifti2'))).toBe(true);
  });

  for (const [file, ref] of files) {
    it(`${file} (${ref.note}): volume i equals nibabel's dataobj[..., i]`, async () => {
      for (let i = 0; i < ref.volumes.length; i++) {
        const expected = ref.volumes[i]!;
        const v = await readNifti(`${dir}in-4d/${file}`, { volume: i });
        expect(v.shape).toEqual(expected.shape);
        expect(v.affine.flat()).toEqual(ref.affine.flat().map((x) => expect.closeTo(x, 5)));
        const scaled = expected.dtype === 'float64' && !file.includes('float64');
        if (scaled) expect(v.data.data).toBeInstanceOf(Float32Array);
        let worst = 0;
        for (let p = 0; p < expected.values.length; p++) {
          const e = expected.values[p]!;
          worst = Math.max(worst, Math.abs(v.data.data[p]! - e) / (1 + Math.abs(e)));
        }
        expect(worst, `${file} volume ${i}`).toBeLessThanOrEqual(1e-6);
      }
    });
  }

  it('refuses a multi-volume file without the option, naming the option and the volume count', async () => {
    const e = await rejection(readNifti(`${dir}in-4d/float32_t3.nii.gz`));
    expect(isMrnError(e, 'E_NIFTI_UNSUPPORTED')).toBe(true);
    expect(e.message).toMatch(/4D with shape \[7, 6, 5, 3\] \(3 volumes\).*\{ volume: i \}/);
  });

  it('refuses a volume out of range, or not an integer', async () => {
    for (const volume of [3, -1, 1.5, NaN]) {
      const e = await rejection(readNifti(`${dir}in-4d/float32_t3.nii.gz`, { volume }));
      expect(isMrnError(e, 'E_INVALID_ARGUMENT'), String(volume)).toBe(true);
      expect(e.message).toMatch(/volume must be an integer in \[0, 2\]/);
    }
  });

  it('reads a 3-D file (and a 4-D file of one volume) as volume 0 only', async () => {
    const three = `${dir}in/uint8_ras.nii.gz`;
    const plain = await readNifti(three);
    expect((await readNifti(three, { volume: 0 })).data.data).toEqual(plain.data.data);
    expect(isMrnError(await rejection(readNifti(three, { volume: 1 })), 'E_INVALID_ARGUMENT')).toBe(true);
    const one = `${dir}in/float32_4d_one.nii.gz`;
    expect((await readNifti(one, { volume: 0 })).data.data).toEqual((await readNifti(one)).data.data);
  });

  it('decodeNifti takes the same option', () => {
    const bytes = readFileSync(`${dir}in-4d/uint8_t2.nii`);
    const v = decodeNifti(bytes, { volume: 1 });
    expect(Array.from(v.data.data.slice(0, 4))).toEqual(
      reference.files['uint8_t2.nii']!.volumes[1]!.values.slice(0, 4),
    );
  });
});
