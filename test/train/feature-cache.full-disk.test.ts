import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend.js';
import { setFileLayer } from '../../src/io/atomic-write.js';
import { FeatureCache } from '../../src/train/feature-cache.js';
import { faultyFileLayer } from '../helpers/faulty-file-layer.js';

// A cache spill that fails (disk full, I/O error) gives E_IO naming the file and loses no entry.

let root: string;
beforeAll(async () => {
  await selectBackend({ backend: 'cpu' });
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'mrn-enospc-'));
});
afterEach(() => void setFileLayer());
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe('full disk and I/O errors', () => {
  it('a feature-cache spill that hits a full disk gives E_IO naming the file and keeps the entry in memory', () => {
    const spill = path.join(root, 'spill');
    const cache = new FeatureCache({ maxMemoryBytes: 0, spillDir: spill });
    const key = { caseId: 'RJPD_001', roiId: 'qsm-bg', slice: 0 };
    const cls = new Float32Array([1, 2]);
    const patch = new Float32Array([3, 4, 5, 6]);
    cache.put(key, { cls, patch });
    setFileLayer(faultyFileLayer({ op: 'write', at: 0, code: 'ENOSPC' }));
    let error: unknown;
    try {
      cache.put({ ...key, slice: 1 }, { cls, patch }); // spills slice 0
    } catch (e) {
      error = e;
    } finally {
      setFileLayer();
    }
    expect(error).toMatchObject({ code: 'E_IO', file: expect.stringContaining(spill) });
    expect((error as Error).message).toMatch(/disk is full \(ENOSPC\)/);
    expect(cache.get(key)?.patch).toEqual(patch);
    expect(fs.readdirSync(spill)).toEqual([]); // no torn temporary file left
  });
});
