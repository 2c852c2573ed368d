import fc from 'fast-check';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  decodeSafetensors,
  encodeSafetensors,
  iterateSafetensors,
  type SafetensorsDtype,
  type SafetensorsWriteTensor,
} from '../../src/io/safetensors.js';
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

const CODES = ['E_SAFETENSORS_INVALID'] as const;
const SIZE: Record<string, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
};

/** A small valid file: a few tensors of random dtype and shape, optional metadata. */
const tensors = fc.dictionary(
  fc.string({ minLength: 1, maxLength: 6 }).filter((k) => k !== '__metadata__'),
  fc.record({
    dtype: fc.constantFrom(...(Object.keys(SIZE) as SafetensorsDtype[])),
    shape: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }),
    seed: fc.integer({ min: 0, max: 255 }),
  }),
  { maxKeys: 4 },
);

function build(
  spec: Record<string, { dtype: SafetensorsDtype; shape: number[]; seed: number }>,
  metadata?: Record<string, string>,
): Uint8Array {
  const out: Record<string, SafetensorsWriteTensor> = {};
  for (const [name, t] of Object.entries(spec)) {
    const n = t.shape.reduce((a, b) => a * b, 1) * SIZE[t.dtype]!;
    const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 31 + t.seed) & 0xff);
    const data =
      SIZE[t.dtype] === 8
        ? new Float64Array(bytes.buffer)
        : SIZE[t.dtype] === 4
          ? new Float32Array(bytes.buffer)
          : SIZE[t.dtype] === 2
            ? new Uint16Array(bytes.buffer)
            : bytes;
    out[name] = { dtype: t.dtype, shape: t.shape, data };
  }
  return encodeSafetensors(out, metadata);
}

const validFile = fc
  .tuple(
    tensors,
    fc.option(fc.dictionary(fc.string({ maxLength: 4 }), fc.string({ maxLength: 6 }), { maxKeys: 2 }), {
      nil: undefined,
    }),
  )
  .map(([t, m]) => build(t, m));

function boundaries(bytes: Uint8Array): number[] {
  const len = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + len))) as Record<
    string,
    { data_offsets?: number[] }
  >;
  const b = [0, 4, 7, 8, 9, 8 + len, bytes.length];
  for (const v of Object.values(header))
    if (v.data_offsets) b.push(8 + len + v.data_offsets[0]!, 8 + len + v.data_offsets[1]!);
  return b;
}

/** Values that break naive header handling, for any JSON field. */
const hostileJson: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(...EXTREME_INTS),
  fc.constantFrom(...EXTREME_FLOATS.filter(Number.isFinite)),
  fc.constantFrom(
    null,
    true,
    '',
    'F32',
    'constructor',
    'toString',
    '__proto__',
    [],
    {},
    [1e300],
    [-1, 2],
    [2 ** 53, 2 ** 53 + 8],
    [0.5, 1],
  ),
  fc.array(fc.oneof(fc.constantFrom(...EXTREME_INTS), fc.integer()), { maxLength: 4 }),
  fc.jsonValue({ maxDepth: 2 }),
);

/** A valid header with one field of one entry (or the whole entry, or the length prefix) replaced. */
const hostileFile = fc
  .tuple(
    tensors.filter((t) => Object.keys(t).length > 0),
    fc.constantFrom('dtype', 'shape', 'data_offsets', 'entry', 'metadata', 'length'),
    hostileJson,
    fc.nat(),
  )
  .map(([spec, field, value, pick]) => {
    const bytes = build(spec);
    const len = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + len))) as Record<
      string,
      Record<string, unknown>
    >;
    const names = Object.keys(header);
    const name = names[pick % names.length]!;
    if (field === 'entry') (header as Record<string, unknown>)[name] = value;
    else if (field === 'metadata') (header as Record<string, unknown>).__metadata__ = value;
    else if (field !== 'length') header[name]![field] = value;
    const json = new TextEncoder().encode(JSON.stringify(header));
    const data = bytes.subarray(8 + len);
    const out = new Uint8Array(8 + json.length + data.length);
    const lengthField =
      field === 'length' && typeof value === 'number' && Number.isFinite(value) ? value : json.length;
    new DataView(out.buffer).setBigUint64(0, BigInt.asUintN(64, BigInt(Math.trunc(lengthField))), true);
    out.set(json, 8);
    out.set(data, 8 + json.length);
    return out;
  });

function decode(bytes: Uint8Array, name: string): void {
  const t = decodeOrMrnError(() => decodeSafetensors(bytes, { name }), name, CODES);
  if (!t) return;
  let total = 0;
  for (const v of Object.values(t)) {
    expect(v.data.length).toBe(v.shape.reduce((a, b) => a * b, 1));
    total += v.data.byteLength;
  }
  // F16/BF16 widen to float32: at most twice the file's bytes.
  expect(total).toBeLessThanOrEqual(2 * bytes.length);
}

describe('safetensors reader under fuzzing', () => {
  it('valid files round-trip', () => {
    fc.assert(
      fc.property(validFile, (bytes) => decode(bytes, 'valid.safetensors')),
      fuzzParams(500),
    );
  });

  it(
    'truncations at every boundary, bit flips and overwrites',
    () => {
      fc.assert(
        fc.property(
          validFile.chain((bytes) =>
            fc.tuple(fc.constant(bytes), byteMutation(bytes.length, boundaries(bytes), 8 + 200)),
          ),
          ([bytes, m]) => decode(mutate(bytes, m), 'mutated.safetensors'),
        ),
        fuzzParams(2000),
      );
    },
    fuzzTimeout(2000),
  );

  it(
    'hostile header fields (dtype, shape, data_offsets, header length, metadata)',
    () => {
      fc.assert(
        fc.property(hostileFile, (bytes) => decode(bytes, 'hostile.safetensors')),
        fuzzParams(2000),
      );
    },
    fuzzTimeout(2000),
  );

  it(
    'streaming reader on files: the error names the path',
    async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mrn-fuzz-st-'));
      const file = path.join(dir, 'model.safetensors');
      try {
        await fc.assert(
          fc.asyncProperty(
            fc.oneof(
              hostileFile,
              validFile.chain((b) =>
                fc
                  .tuple(fc.constant(b), byteMutation(b.length, boundaries(b), 208))
                  .map(([x, m]) => mutate(x, m)),
              ),
            ),
            async (bytes) => {
              fs.writeFileSync(file, bytes);
              await decodeOrMrnErrorAsync(
                async () => {
                  let n = 0;
                  for await (const t of iterateSafetensors(file)) n += t.data.byteLength;
                  return n;
                },
                file,
                CODES,
              );
            },
          ),
          fuzzParams(200),
        );
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
    fuzzTimeout(200, 50),
  );
});
