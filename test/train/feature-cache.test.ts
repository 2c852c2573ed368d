import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend.js';
import { isMrnError } from '../../src/errors.js';
import { FeatureCache } from '../../src/train/feature-cache.js';
import { float16ToFloat32, float32ToFloat16, fromFloat16Bits, toFloat16Bits } from '../../src/io/float16.js';
import { createRng } from '../../src/rng.js';
import { thrownBy } from '../helpers/errors.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'mrn-cache-'));
beforeAll(async () => {
  await selectBackend({ backend: 'cpu' });
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function features(seed: number, n = 4, e = 3) {
  const rng = createRng(seed);
  return {
    cls: Float32Array.from({ length: e }, () => rng.normal()),
    patch: Float32Array.from({ length: n * e }, () => rng.normal()),
  };
}

describe('float16', () => {
  it('converts exactly representable values exactly, and rounds to nearest even', () => {
    const exact = [0, -0, 1, -2, 0.5, 65504, -65504, 2 ** -14, 2 ** -24, 1 + 2 ** -10, 3.140625];
    for (const v of exact) expect(fromFloat16Bits(toFloat16Bits(v))).toBe(v);
    expect(toFloat16Bits(1)).toBe(0x3c00);
    expect(toFloat16Bits(-2)).toBe(0xc000);
    expect(toFloat16Bits(65504)).toBe(0x7bff);
    expect(toFloat16Bits(65520)).toBe(0x7c00); // rounds up to +Inf
    expect(toFloat16Bits(1e6)).toBe(0x7c00);
    expect(toFloat16Bits(-Infinity)).toBe(0xfc00);
    expect(Number.isNaN(fromFloat16Bits(toFloat16Bits(NaN)))).toBe(true);
    expect(fromFloat16Bits(toFloat16Bits(1 + 2 ** -11))).toBe(1); // tie -> even
    expect(fromFloat16Bits(toFloat16Bits(1 + 3 * 2 ** -11))).toBe(1 + 2 ** -9); // tie -> even (up)
    expect(fromFloat16Bits(toFloat16Bits(2 ** -25))).toBe(0); // tie -> even (zero)
    expect(fromFloat16Bits(toFloat16Bits(3 * 2 ** -26))).toBe(2 ** -24);
  });

  it('keeps random values within half a unit in the last place', () => {
    const rng = createRng(1);
    const values = Float32Array.from({ length: 10000 }, () => rng.normal(0, 10));
    const back = float16ToFloat32(float32ToFloat16(values));
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      const ulp = Math.abs(v) >= 2 ** -14 ? 2 ** (Math.floor(Math.log2(Math.abs(v))) - 10) : 2 ** -24;
      expect(Math.abs(back[i]! - v)).toBeLessThanOrEqual(ulp / 2);
    }
  });
});

describe('FeatureCache', () => {
  it('stores and returns slices by case, ROI, slice and variant', () => {
    const cache = new FeatureCache();
    const f = features(1);
    cache.put({ caseId: 'c1', roiId: 'r', slice: 0 }, f);
    cache.put({ caseId: 'c1', roiId: 'r', slice: 0, variant: 'flip' }, features(2));
    expect(cache.size).toBe(2);
    expect(cache.get({ caseId: 'c1', roiId: 'r', slice: 0, variant: 0 })).toEqual(f);
    expect(cache.get({ caseId: 'c1', roiId: 'r', slice: 0, variant: 'flip' })!.cls).toEqual(features(2).cls);
    expect(cache.get({ caseId: 'c1', roiId: 'r', slice: 1 })).toBeUndefined();
    expect(cache.has({ caseId: 'c1', roiId: 'other', slice: 0 })).toBe(false);
    expect(cache.stats().memoryBytes).toBe(2 * (3 + 12) * 4);
    expect(cache.delete({ caseId: 'c1', roiId: 'r', slice: 0 })).toBe(true);
    expect(cache.size).toBe(1);
    expect(() =>
      cache.put(
        { caseId: 'c1', roiId: 'r', slice: 0 },
        { cls: new Float32Array(3), patch: new Float32Array(7) },
      ),
    ).toThrow(/not a multiple of the CLS width 3/);
  });

  it('float16 halves the memory and stays close', () => {
    const cache = new FeatureCache({ precision: 'float16' });
    const f = features(3, 16, 8);
    cache.put({ caseId: 'c', roiId: 'r', slice: 2 }, f);
    expect(cache.stats().memoryBytes).toBe((8 + 16 * 8) * 2);
    const back = cache.get({ caseId: 'c', roiId: 'r', slice: 2 })!;
    for (let i = 0; i < f.patch.length; i++)
      expect(Math.abs(back.patch[i]! - f.patch[i]!)).toBeLessThan(4e-3);
  });

  it('spills least-recently-used slices to disk and reads them back exactly', () => {
    const dir = path.join(tmp, 'spill');
    const entryBytes = (3 + 12) * 4;
    const cache = new FeatureCache({ maxMemoryBytes: 2 * entryBytes, spillDir: dir });
    for (let s = 0; s < 5; s++) cache.put({ caseId: 'c', roiId: 'r', slice: s }, features(10 + s));
    const st = cache.stats();
    expect(st.entries).toBe(5);
    expect(st.spilled).toBe(3);
    expect(st.memoryBytes).toBe(2 * entryBytes);
    expect(st.diskBytes).toBe(3 * entryBytes);
    expect(readdirSync(dir)).toHaveLength(3);
    for (let s = 0; s < 5; s++)
      expect(cache.get({ caseId: 'c', roiId: 'r', slice: s })).toEqual(features(10 + s));
    cache.clear();
    expect(readdirSync(dir)).toHaveLength(0);
    expect(cache.stats()).toEqual({ entries: 0, spilled: 0, memoryBytes: 0, diskBytes: 0, fileBacked: 0 });
  });

  it('file-backed slices leave memory without spill files, read back from their file, and a changed file is caught', () => {
    const dir = path.join(tmp, 'backed');
    const file = path.join(tmp, 'backing.bin');
    const entryBytes = (3 + 12) * 4;
    // The file holds, per slice, 12 bytes of padding, the patch tokens, then the CLS token.
    const slices = Array.from({ length: 4 }, (_, s) => features(30 + s));
    const layout = slices.map((_, s) => {
      const at = s * (12 + entryBytes);
      return { patchOffset: at + 12, clsOffset: at + 12 + 12 * 4 };
    });
    const bytes = new Uint8Array(slices.length * (12 + entryBytes));
    slices.forEach((f, s) => {
      bytes.set(new Uint8Array(f.patch.buffer), layout[s]!.patchOffset);
      bytes.set(new Uint8Array(f.cls.buffer), layout[s]!.clsOffset);
    });
    writeFileSync(file, bytes);
    for (const precision of ['float32', 'float16'] as const) {
      const cache = new FeatureCache({ maxMemoryBytes: entryBytes, spillDir: dir, precision });
      const stored = (f: { cls: Float32Array; patch: Float32Array }) =>
        precision === 'float32'
          ? f
          : {
              cls: float16ToFloat32(float32ToFloat16(f.cls)),
              patch: float16ToFloat32(float32ToFloat16(f.patch)),
            };
      // With float16 the file holds what the cache would return (values already rounded), as a store does.
      const held = slices.map(stored);
      if (precision === 'float16') {
        held.forEach((f, s) => {
          bytes.set(new Uint8Array(f.patch.buffer), layout[s]!.patchOffset);
          bytes.set(new Uint8Array(f.cls.buffer), layout[s]!.clsOffset);
        });
        writeFileSync(file, bytes);
      }
      held.forEach((f, s) => cache.put({ caseId: 'c', roiId: 'r', slice: s }, f, { file, ...layout[s]! }));
      const st = cache.stats();
      expect(st.fileBacked).toBeGreaterThan(0);
      expect(st.spilled).toBe(0);
      expect(st.diskBytes).toBe(0);
      expect(readdirSync(dir)).toHaveLength(0);
      for (let s = 0; s < held.length; s++)
        expect(cache.get({ caseId: 'c', roiId: 'r', slice: s })).toEqual(held[s]);
      cache.clear();
      expect(readFileSync(file)).toEqual(Buffer.from(bytes)); // the cache never writes or removes it
    }

    const cache = new FeatureCache({ maxMemoryBytes: entryBytes, spillDir: dir });
    slices.forEach((f, s) => cache.put({ caseId: 'c', roiId: 'r', slice: s }, f, { file, ...layout[s]! }));
    const changed = Uint8Array.from(bytes);
    changed[layout[0]!.patchOffset + 5]! ^= 0x10;
    writeFileSync(file, changed);
    const caught = thrownBy(() => cache.get({ caseId: 'c', roiId: 'r', slice: 0 }));
    expect(isMrnError(caught, 'E_CACHE_CORRUPT')).toBe(true);
    expect((caught as Error).message).toContain('changed on disk');
    expect(cache.has({ caseId: 'c', roiId: 'r', slice: 0 })).toBe(false);
    rmSync(file);
    const gone = thrownBy(() => cache.get({ caseId: 'c', roiId: 'r', slice: 1 }));
    expect(isMrnError(gone, 'E_CACHE_CORRUPT')).toBe(true);
    expect((gone as Error).message).toMatch(/unreadable/);
  });

  it('without a spill directory a full budget is an E_MEMORY error', () => {
    const cache = new FeatureCache({ maxMemoryBytes: 100 });
    cache.put({ caseId: 'c', roiId: 'r', slice: 0 }, features(1)); // 60 bytes
    const caught = thrownBy(() => cache.put({ caseId: 'c', roiId: 'r', slice: 1 }, features(2)));
    expect(isMrnError(caught, 'E_MEMORY')).toBe(true);
    expect(cache.size).toBe(1);
  });

  it('putBatch skips padding; getBatch rebuilds the ROI feature input with zero padding', async () => {
    const cache = new FeatureCache({ precision: 'float32' });
    const [b, d, n, e] = [2, 3, 4, 5];
    const patch = tf.randomNormal([b, d, n, e], 0, 1, 'float32', 1) as tf.Tensor4D;
    const cls = tf.randomNormal([b, d, e], 0, 1, 'float32', 2) as tf.Tensor3D;
    const valid = tf.tensor2d([
      [1, 1, 0],
      [1, 1, 1],
    ]);
    const items = [{ caseId: 'A' }, { caseId: 'B', variant: 1 }];
    await cache.putBatch(items, 'roi', { patch, cls }, valid);
    expect(cache.size).toBe(5);
    const start = tf.memory().numTensors;
    const got = cache.getBatch(items, 'roi', d);
    expect(await got.valid.array()).toEqual(await valid.array());
    const mask = tf.reshape(valid, [b, d, 1, 1]);
    const expected = tf.tidy(() => tf.add(tf.mul(patch, mask), 0)); // + 0 turns -0 into 0
    expect(Array.from(await got.patch.data())).toEqual(Array.from(await expected.data()));
    tf.dispose([got.patch, got.cls, got.valid, mask, expected]);
    expect(tf.memory().numTensors).toBe(start);
    expect(() => cache.getBatch([{ caseId: 'A', variant: 1 }], 'roi', d)).toThrow(
      /no cached features for ROI 'roi', variant 1/,
    );
    await expect(cache.putBatch([{ caseId: 'A' }], 'roi', { patch, cls })).rejects.toThrow(
      /1 items for a batch of 2/,
    );
    tf.dispose([patch, cls, valid]);
  });
});
