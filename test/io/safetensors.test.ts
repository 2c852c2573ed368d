import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  decodeSafetensors,
  encodeSafetensors,
  iterateSafetensors,
  readSafetensors,
  readSafetensorsHeader,
} from '../../src/io/safetensors.js';
import { isMrnError } from '../../src/errors.js';
import { rejectionOf, thrownBy } from '../helpers/errors.js';

const REFERENCE = (p: string) => new URL(`../fixtures/reference/${p}`, import.meta.url).pathname;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'mrn-st-'));

/** A file from a raw header object and data bytes. */
function rawFile(header: unknown, data: Uint8Array, headerLength?: number): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength ?? json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

async function expectInvalid(bytes: Uint8Array, pattern: RegExp): Promise<void> {
  const file = path.join(tmp, `bad-${Math.random().toString(36).slice(2)}.safetensors`);
  writeFileSync(file, bytes);
  for (const attempt of [() => readSafetensors(file), () => readSafetensorsHeader(file)]) {
    const err = await rejectionOf(() => attempt());
    expect(isMrnError(err, 'E_SAFETENSORS_INVALID'), String(err)).toBe(true);
    expect((err as Error).message).toMatch(pattern);
    expect((err as Error).message).toContain(file); // names the file
  }
}

describe('readSafetensors', () => {
  it('reads F32 as views into the one file buffer and BF16 converted exactly', async () => {
    const f32 = await readSafetensors(REFERENCE('dinov2-tiny/model.safetensors'));
    const w = f32['embeddings.patch_embeddings.projection.weight'];
    expect(w.dtype).toBe('F32');
    expect(w.shape).toEqual([64, 3, 14, 14]);
    expect(w.data).toBeInstanceOf(Float32Array);
    // views, not copies: every F32 tensor shares one ArrayBuffer (the file's)
    const buffers = new Set(Object.values(f32).map((t) => t.data.buffer));
    expect(buffers.size).toBe(1);
    const bf = await readSafetensors(REFERENCE('dinov2-tiny-bf16/model.safetensors'));
    const g = bf['layernorm.weight'];
    expect(g.dtype).toBe('BF16');
    expect(g.data).toBeInstanceOf(Float32Array);
    // every BF16 value widened exactly: its low 16 bits are zero
    const bits = new Uint32Array((g.data as Float32Array).slice().buffer);
    expect(bits.every((b) => (b & 0xffff) === 0)).toBe(true);
    expect(Array.from(g.data as Float32Array).some((v) => v !== 0)).toBe(true);
  });

  it('round-trips every dtype through encodeSafetensors, from bytes and from a file', async () => {
    const f16bits = new Uint16Array([0x3c00, 0xc000, 0x0001, 0x7c00, 0x3555]); // 1, -2, 2^-24, inf, 0.333
    const bf16bits = new Uint16Array([0x3f80, 0xc040, 0x0000]); // 1, -3, 0
    const bytes = encodeSafetensors(
      {
        a: { dtype: 'F32', shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) },
        h: { dtype: 'F16', shape: [5], data: f16bits },
        b: { dtype: 'BF16', shape: [3], data: bf16bits },
        i: { dtype: 'I64', shape: [2], data: new BigInt64Array([-5n, 7n]) },
        d: { dtype: 'F64', shape: [1], data: new Float64Array([Math.PI]) },
        u: { dtype: 'U8', shape: [3], data: new Uint8Array([1, 2, 255]) },
        s: { dtype: 'I32', shape: [], data: new Int32Array([-9]) },
        z: { dtype: 'F32', shape: [0, 3], data: new Float32Array(0) },
      },
      { format: 'pt' },
    );
    const file = path.join(tmp, 'all.safetensors');
    writeFileSync(file, bytes);
    for (const t of [decodeSafetensors(bytes), await readSafetensors(file)]) {
      expect(Array.from(t.a.data as Float32Array)).toEqual([1, 2, 3, 4]);
      expect(Array.from(t.h.data as Float32Array)).toEqual([
        1,
        -2,
        2 ** -24,
        Infinity,
        Math.fround(0.333251953125),
      ]);
      expect(Array.from(t.b.data as Float32Array)).toEqual([1, -3, 0]);
      expect(Array.from(t.i.data as BigInt64Array)).toEqual([-5n, 7n]);
      expect((t.d.data as Float64Array)[0]).toBe(Math.PI);
      expect(Array.from(t.u.data as Uint8Array)).toEqual([1, 2, 255]);
      expect(t.s.shape).toEqual([]);
      expect(Array.from(t.s.data as Int32Array)).toEqual([-9]);
      expect(t.z.shape).toEqual([0, 3]);
    }
    const header = await readSafetensorsHeader(file);
    expect(header.metadata).toEqual({ format: 'pt' });
    expect(header.entries.map((e) => e.name)).toEqual(['a', 'h', 'b', 'i', 'd', 'u', 's', 'z']);
  });

  it('streams tensors one by one in file order, optionally a subset', async () => {
    const names: string[] = [];
    for await (const t of iterateSafetensors(REFERENCE('dinov2-tiny/model.safetensors'))) {
      names.push(t.name);
      expect(t.data.length).toBe(t.shape.reduce((a, b) => a * b, 1));
    }
    expect(names.length).toBe(5 + 3 * 18 + 2);
    const all = await readSafetensors(REFERENCE('dinov2-tiny/model.safetensors'));
    const some: Record<string, Float32Array> = {};
    for await (const t of iterateSafetensors(REFERENCE('dinov2-tiny/model.safetensors'), {
      names: ['layernorm.bias', 'embeddings.cls_token'],
    })) {
      some[t.name] = t.data as Float32Array;
    }
    expect(Object.keys(some).sort()).toEqual(['embeddings.cls_token', 'layernorm.bias']);
    expect(Array.from(some['layernorm.bias'])).toEqual(
      Array.from(all['layernorm.bias'].data as Float32Array),
    );
  });

  it('copies misaligned tensors instead of failing', () => {
    const data = new Uint8Array(12);
    new DataView(data.buffer).setFloat32(1, 2.5, true);
    new DataView(data.buffer).setFloat32(5, -1, true);
    const bytes = rawFile(
      {
        x: { dtype: 'U8', shape: [1], data_offsets: [0, 1] },
        y: { dtype: 'F32', shape: [2], data_offsets: [1, 9] },
        w: { dtype: 'U8', shape: [3], data_offsets: [9, 12] },
      },
      data,
    );
    const t = decodeSafetensors(bytes);
    expect(Array.from(t.y.data as Float32Array)).toEqual([2.5, -1]);
  });

  describe('bad files give E_SAFETENSORS_INVALID naming the file', () => {
    const ok = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
    it('shorter than 8 bytes', () => expectInvalid(new Uint8Array(5), /shorter than the 8-byte/));
    it('header length past the end', () =>
      expectInvalid(rawFile(ok, new Uint8Array(8), 5000), /runs past the end/));
    it('absurd header length', () => expectInvalid(rawFile(ok, new Uint8Array(8), 2 ** 40), /exceeds/));
    it('header not JSON', () =>
      expectInvalid(rawFile('{not json', new Uint8Array(8)), /not valid UTF-8 JSON/));
    it('header not an object', () => expectInvalid(rawFile('[1,2]', new Uint8Array(0)), /not a JSON object/));
    it('unknown dtype', () =>
      expectInvalid(
        rawFile({ a: { dtype: 'F8_E4M3', shape: [2], data_offsets: [0, 2] } }, new Uint8Array(2)),
        /unsupported dtype/,
      ));
    it('bad shape', () =>
      expectInvalid(
        rawFile({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, new Uint8Array(4)),
        /shape/,
      ));
    it('shape and offsets disagree', () =>
      expectInvalid(
        rawFile({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8)),
        /needs 12 bytes but data_offsets span 8/,
      ));
    it('offsets past the data (truncated file)', () =>
      expectInvalid(
        rawFile({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, new Uint8Array(8)),
        /holds only 8/,
      ));
    it('overlapping tensors', () =>
      expectInvalid(
        rawFile(
          {
            a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
            b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] },
          },
          new Uint8Array(8),
        ),
        /overlaps/,
      ));
    it('a hole in the data', () =>
      expectInvalid(
        rawFile({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, new Uint8Array(8)),
        /hole/,
      ));
    it('trailing bytes the header does not describe', () =>
      expectInvalid(rawFile(ok, new Uint8Array(12)), /describes only 8/));
    it('non-string metadata', () =>
      expectInvalid(rawFile({ __metadata__: { a: 1 }, ...ok }, new Uint8Array(8)), /__metadata__/));
  });

  it('missing file is E_FILE_NOT_FOUND', async () => {
    const err = await rejectionOf(() => readSafetensors(path.join(tmp, 'nope.safetensors')));
    expect(isMrnError(err, 'E_FILE_NOT_FOUND')).toBe(true);
  });

  it('bytes sources are labelled by options.name', () => {
    const err = thrownBy(() => decodeSafetensors(new Uint8Array(3), { name: 'upload.safetensors' }));
    expect((err as Error).message).toContain('upload.safetensors');
  });
});
