/**
 * Files mrn writes read back in nibabel unchanged: test/fixtures/nifti/ours/ was written by
 * write_ours.ts and read by nibabel (make_fixtures.py check -> ours.json). Here we check nibabel saw
 * our values, our affine (as sform and, without shears, as qform) and codes, and that today's
 * encoder still produces exactly those bytes.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { encodeNifti, readNifti } from '../../src/index.js';
import { oursRecipes } from '../fixtures/nifti/ours-recipes.js';

const dir = fileURLToPath(new URL('../fixtures/nifti/', import.meta.url));
type Num = number | 'NaN' | 'Infinity' | '-Infinity';
interface Seen {
  shape: number[];
  stored_dtype: string;
  values: Num[];
  affine: Num[][];
  qform: Num[][];
  sform: Num[][];
  qform_code: number;
  sform_code: number;
}
const seen = (JSON.parse(readFileSync(`${dir}ours.json`, 'utf8')) as { files: Record<string, Seen> }).files;
const num = (x: Num): number =>
  x === 'NaN' ? NaN : x === 'Infinity' ? Infinity : x === '-Infinity' ? -Infinity : x;

function worstError(actual: ArrayLike<number>, expected: readonly number[]): number {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (Number.isNaN(e) || !Number.isFinite(e)) {
      expect(Object.is(a, e) || (Number.isNaN(a) && Number.isNaN(e))).toBe(true);
      continue;
    }
    worst = Math.max(worst, Math.abs(a - e) / (1 + Math.abs(e)));
  }
  return worst;
}

describe('nibabel reads what mrn writes', async () => {
  const recipes = await oursRecipes(`${dir}in`);

  it('covers every recipe', () => {
    expect(Object.keys(seen).sort()).toEqual(recipes.map((r) => r.file).sort());
  });

  for (const r of recipes) {
    it(r.file, async () => {
      const s = seen[r.file]!;
      const values = r.volume.data.data;
      expect(s.shape).toEqual(r.volume.shape);
      const own = values.constructor.name.replace('Array', '').toLowerCase();
      expect(s.stored_dtype).toBe(r.options.datatype ?? own);
      // values: exactly ours (float32 and integer types are stored without scaling)
      expect(worstError(values, s.values.map(num))).toBe(0);
      // the affine nibabel sees is ours rounded to float32 (the sform stores float32)
      const f32 = r.volume.affine.flat().map((v, i) => (i >= 12 ? v : Math.fround(v)));
      expect(worstError(f32, s.affine.flat().map(num))).toBe(0);
      expect(worstError(r.volume.affine.flat(), s.sform.flat().map(num))).toBeLessThanOrEqual(1e-6);
      const code = r.options.xformCode ?? 1;
      expect([s.sform_code, s.qform_code]).toEqual([code, code]);
      const qformError = worstError(r.volume.affine.flat(), s.qform.flat().map(num));
      if (r.sheared) expect(qformError).toBeGreaterThan(1e-3);
      else expect(qformError).toBeLessThanOrEqual(1e-6);
      // today's encoder gives the bytes nibabel approved (compare decompressed: zlib builds may differ)
      const committed = readFileSync(`${dir}ours/${r.file}`);
      const plain = r.file.endsWith('.gz') ? gunzipSync(committed) : committed;
      const now = encodeNifti(r.volume, { ...r.options, gzip: false });
      expect(Buffer.from(now).equals(plain)).toBe(true);
      // and we read our own file back to the same volume
      const back = await readNifti(`${dir}ours/${r.file}`);
      expect(worstError(back.data.data, Array.from(values))).toBe(0);
      expect(back.affine.flat()).toEqual(f32);
    });
  }
});
