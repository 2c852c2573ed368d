import fc from 'fast-check';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PreprocessedCase } from '../../src/pdcad/preprocess-case.js';
import { decodeRoiCacheEntry, encodeRoiCacheEntry } from '../../src/pdcad/roi-cache.js';
import { decodeChecksummed, encodeChecksummed } from '../../src/io/checksummed.js';
import { FeatureCache } from '../../src/train/feature-cache.js';
import {
  byteMutation,
  decodeOrMrnError,
  EXTREME_INTS,
  fuzzParams,
  fuzzTimeout,
  mutate,
} from './fuzz-support.js';

// Cache files mrn wrote itself are read back by later epochs and runs. A damaged one must be
// detected (checksum) and never trusted; even one whose checksum was recomputed over damaged
// content (a hostile or buggy writer) must decode to a consistent entry or be refused.

function roiCase(seed: number, depth: number, size: number, maskMax: number): PreprocessedCase {
  const n = depth * size * size;
  return {
    caseId: `RJPD_${seed & 0xff}`,
    label: seed & 1,
    rois: [
      {
        roiId: 'qsm-bg',
        depth,
        size,
        slices: Float32Array.from({ length: n }, (_, i) => Math.sin(i + seed)),
        masks: Int32Array.from({ length: n }, (_, i) => (i * 7 + seed) % (maskMax + 1)),
        valid: Uint8Array.from({ length: depth }, (_, i) => (i < depth - 1 ? 1 : 0)),
        placement: { rowOffset: 0, colOffset: 0, rows: size, cols: size },
        box: { lo: [1, 2, 3], hi: [4, 5, 6] },
        report: { fallback: false },
      } as unknown as PreprocessedCase['rois'][number],
    ],
  };
}

const entry = fc
  .record({
    seed: fc.integer({ min: 0, max: 1000 }),
    depth: fc.integer({ min: 1, max: 4 }),
    size: fc.integer({ min: 1, max: 6 }),
    maskMax: fc.constantFrom(1, 16, 300),
    compress: fc.boolean(),
  })
  .map((r) => encodeRoiCacheEntry(roiCase(r.seed, r.depth, r.size, r.maskMax), 'k'.repeat(64), r.compress));

/** What a decoded entry must satisfy, whatever the bytes were. */
function checkDecoded(c: PreprocessedCase | undefined): void {
  if (!c) return;
  for (const r of c.rois) {
    expect(Number.isSafeInteger(r.depth) && r.depth >= 1).toBe(true);
    expect(Number.isSafeInteger(r.size) && r.size >= 1).toBe(true);
    const n = r.depth * r.size * r.size;
    expect(r.slices.length).toBe(n);
    expect(r.masks.length).toBe(n);
    expect(r.valid.length).toBe(r.depth);
  }
}

function decodeNeverThrows(bytes: Uint8Array): void {
  const c = decodeOrMrnError(() => decodeRoiCacheEntry(bytes, 'k'.repeat(64)), 'roi-cache', []);
  checkDecoded(c);
}

/** JSON-level damage inside a correctly checksummed entry: a header field replaced by a hostile value. */
function rewriteHeader(bytes: Uint8Array, field: string, value: unknown): Uint8Array {
  const inner = Buffer.from(decodeChecksummed(bytes, 'x'));
  const jsonLen = inner.readUInt32LE(12);
  const header = JSON.parse(inner.subarray(16, 16 + jsonLen).toString('utf8')) as Record<string, unknown>;
  const roi = (header.rois as Record<string, unknown>[])[0]!;
  if (field in header) header[field] = value;
  else roi[field] = value;
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const fixed = Buffer.from(inner.subarray(0, 16));
  fixed.writeUInt32LE(json.length, 12);
  return encodeChecksummed(Buffer.concat([fixed, json, inner.subarray(16 + jsonLen)]));
}

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mrn-fuzz-cache-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('cache files under fuzzing', () => {
  it(
    'ROI cache entries: truncation, bit flips, overwrites are detected (never decoded wrongly)',
    () => {
      fc.assert(
        fc.property(
          entry.chain((b) =>
            fc.tuple(fc.constant(b), byteMutation(b.length, [0, 8, 16, 48, 56, 60, 64, b.length - 1], 400)),
          ),
          ([bytes, m]) => {
            const damaged = mutate(bytes, m);
            const c = decodeRoiCacheEntry(damaged, 'k'.repeat(64));
            // Any change of the bytes fails the checksum.
            if (damaged.length !== bytes.length || damaged.some((v, i) => v !== bytes[i]))
              expect(c).toBeUndefined();
          },
        ),
        fuzzParams(1500),
      );
    },
    fuzzTimeout(1500),
  );

  it(
    'ROI cache entries with a valid checksum over damaged content decode consistently or are refused',
    () => {
      const hostile = fc.oneof(
        fc.constantFrom(...EXTREME_INTS),
        fc.constantFrom(null, '3', 1.5, -1, NaN, [], {}, true, 2 ** 40),
        fc.jsonValue({ maxDepth: 1 }),
      );
      fc.assert(
        fc.property(
          entry,
          fc.constantFrom('depth', 'size', 'maskBytes', 'bodyBytes', 'compressed', 'rois', 'key', 'caseId'),
          hostile,
          (bytes, field, value) => decodeNeverThrows(rewriteHeader(bytes, field, value)),
        ),
        fuzzParams(1500),
      );
      fc.assert(
        fc.property(
          entry.chain((b) => {
            const inner = decodeChecksummed(b, 'x');
            return fc.tuple(fc.constant(inner), byteMutation(inner.length, [0, 8, 12, 16, inner.length - 1]));
          }),
          ([inner, m]) => decodeNeverThrows(encodeChecksummed(mutate(inner, m))),
        ),
        fuzzParams(1500),
      );
    },
    fuzzTimeout(3000),
  );

  it(
    'feature-cache spill files: damage gives E_CACHE_CORRUPT naming the file, never wrong features',
    () => {
      fc.assert(
        fc.property(
          fc.constantFrom('float32' as const, 'float16' as const),
          fc.integer({ min: 1, max: 8 }),
          byteMutation(48 + 64, [0, 8, 16, 47, 48, 49, 100], 112),
          (precision, dim, m) => {
            const spill = path.join(dir, `${precision}-${dim}`);
            const cache = new FeatureCache({ precision, maxMemoryBytes: 0, spillDir: spill });
            const cls = Float32Array.from({ length: dim }, (_, i) => i + 0.5);
            const patch = Float32Array.from({ length: dim * 3 }, (_, i) => -i);
            const key = { caseId: 'RJPD_001', roiId: 'qsm-bg', slice: 0 };
            cache.put(key, { cls, patch });
            cache.put({ ...key, slice: 1 }, { cls, patch }); // spills slice 0
            const file = path.join(spill, fs.readdirSync(spill).find((f) => f.endsWith('.bin'))!);
            const bytes = new Uint8Array(fs.readFileSync(file));
            const damaged = mutate(bytes, m);
            fs.writeFileSync(file, damaged);
            const same = damaged.length === bytes.length && damaged.every((v, i) => v === bytes[i]);
            const got = decodeOrMrnError(() => cache.get(key), file, ['E_CACHE_CORRUPT']);
            if (same) expect(got?.cls).toEqual(cls);
            else {
              expect(got).toBeUndefined();
              expect(cache.has(key)).toBe(false); // dropped, so it is rebuilt, not read again
            }
            cache.clear();
          },
        ),
        fuzzParams(200),
      );
    },
    fuzzTimeout(200, 100),
  );
});
