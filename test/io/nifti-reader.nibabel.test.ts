/**
 * Interop against nibabel: every file in test/fixtures/nifti/in was written by nibabel
 * (make_fixtures.py), and reference.json holds what nibabel decodes from it: values, dtype, affine,
 * zooms, axis codes and as_closest_canonical's result. We must agree (float64 tolerance 1e-6 relative).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { orientation, readNifti, reorientToCanonical, type Volume } from '../../src/index.js';

const dir = fileURLToPath(new URL('../fixtures/nifti/', import.meta.url));

type Num = number | 'NaN' | 'Infinity' | '-Infinity';
interface Decoded {
  shape: number[];
  dtype: string;
  values: Num[];
  affine: Num[][];
  axcodes: string;
}
interface RefFile extends Decoded {
  note: string;
  zooms: Num[];
  canonical: Decoded;
}
const reference = JSON.parse(readFileSync(`${dir}reference.json`, 'utf8')) as {
  files: Record<string, RefFile>;
};

const num = (x: Num): number =>
  x === 'NaN' ? NaN : x === 'Infinity' ? Infinity : x === '-Infinity' ? -Infinity : x;

/** |a - b| <= 1e-6 * (1 + |b|); NaN matches NaN, infinities match exactly. */
function expectClose(actual: ArrayLike<number>, expected: Num[], what: string): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < expected.length; i++) {
    const e = num(expected[i]!);
    const a = actual[i]!;
    if (Number.isNaN(e) || !Number.isFinite(e)) {
      expect(Object.is(a, e) || (Number.isNaN(a) && Number.isNaN(e)), `${what}[${i}]: ${a} vs ${e}`).toBe(
        true,
      );
      continue;
    }
    const err = Math.abs(a - e) / (1 + Math.abs(e));
    if (!(err <= worst)) {
      worst = err;
      at = i;
    }
  }
  expect(worst, `${what}: worst relative error at ${at}`).toBeLessThanOrEqual(1e-6);
}

/** Typed array class we promise for each nibabel decoded dtype (scaled -> float32). */
function expectedArray(file: string, ref: RefFile): string {
  if (file.startsWith('int64_large')) return 'Float64Array';
  if (/int64|uint64/.test(file)) return 'Int32Array';
  const map: Record<string, string> = {
    uint8: 'Uint8Array',
    int8: 'Int8Array',
    int16: 'Int16Array',
    '>i2': 'Int16Array',
    uint16: 'Uint16Array',
    int32: 'Int32Array',
    '>i4': 'Int32Array',
    uint32: 'Uint32Array',
    float32: 'Float32Array',
    '>f4': 'Float32Array',
    float64: /scaled/.test(file) ? 'Float32Array' : 'Float64Array',
  };
  return map[ref.dtype]!;
}

const exactIntegers = (ref: RefFile) => !/float/.test(ref.dtype) && !/f4|f8/.test(ref.dtype);

function flatAffine(v: Volume): number[] {
  return v.affine.flat();
}

describe('NIfTI files written by nibabel', () => {
  const files = Object.keys(reference.files);
  it('covers every datatype, scaling, qform-only, fallback, big-endian, NIfTI-2 and 4D case', () => {
    expect(files.length).toBeGreaterThanOrEqual(29);
  });

  for (const file of files) {
    const ref = reference.files[file]!;
    it(`${file} (${ref.note})`, async () => {
      const v = await readNifti(`${dir}in/${file}`);
      const refShape = ref.shape.length === 4 && ref.shape[3] === 1 ? ref.shape.slice(0, 3) : ref.shape;
      expect(v.shape).toEqual(refShape);
      expect(v.data.data.constructor.name).toBe(expectedArray(file, ref));
      if (exactIntegers(ref)) expect(Array.from(v.data.data)).toEqual(ref.values.map(num));
      else expectClose(v.data.data, ref.values, 'values');
      expectClose(flatAffine(v), ref.affine.flat(), 'affine');
      expectClose(v.spacing, ref.zooms.slice(0, 3), 'zooms');
      expect(orientation(v)).toBe(ref.axcodes);
      const nonFinite = ref.values.filter((x) => typeof x === 'string').length;
      expect(v.nonFiniteCount).toBe(nonFinite);

      const c = reorientToCanonical(v);
      const canShape = ref.canonical.shape.slice(0, 3);
      expect(c.shape).toEqual(canShape);
      expectClose(flatAffine(c), ref.canonical.affine.flat(), 'canonical affine');
      if (exactIntegers(ref)) expect(Array.from(c.data.data)).toEqual(ref.canonical.values.map(num));
      else expectClose(c.data.data, ref.canonical.values, 'canonical values');
      // Usually 'RAS'; for near-45-degree rotations nibabel's greedy axis choice is not idempotent
      // (float32_near45: 'RSP' -> 'RIA'), and we reproduce it.
      expect(orientation(c)).toBe(ref.canonical.axcodes);
      expect(c.data.data.constructor).toBe(v.data.data.constructor);
    });
  }

  it('reads bytes the same as the path, and never aliases the caller’s bytes', async () => {
    const bytes = new Uint8Array(readFileSync(`${dir}in/uint32_ras.nii`));
    const fromPath = await readNifti(`${dir}in/uint32_ras.nii`);
    const fromBytes = await readNifti(bytes, { name: 'uint32_ras' });
    expect(Array.from(fromBytes.data.data)).toEqual(Array.from(fromPath.data.data));
    expect(fromBytes.name).toBe('uint32_ras');
    fromBytes.data.data[0] = 12345;
    expect(new Uint32Array(bytes.buffer, 352, 1)[0]).not.toBe(12345);
  });
});
