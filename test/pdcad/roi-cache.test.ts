import { mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decodeRoiCacheEntry,
  encodeRoiCacheEntry,
  getMrnRoi,
  MRN_ROIS,
  preprocessCase,
  preprocessCaseCached,
  roiCacheKey,
  writeNifti,
  type PdcadCase,
  type PreprocessedCase,
} from '../../src/index.js';
import { phantomVolumes, writePhantomCase } from './pdcad-phantom.js';

let root: string;
let theCase: Pick<PdcadCase, 'id' | 'label' | 'files'>;
const OPTS = { size: 24 };

function expectSameCase(a: PreprocessedCase, b: PreprocessedCase): void {
  expect(a.caseId).toBe(b.caseId);
  expect(a.nmReference).toEqual(b.nmReference);
  expect(a.rois.length).toBe(b.rois.length);
  a.rois.forEach((r, i) => {
    const s = b.rois[i]!;
    expect(r.roiId).toBe(s.roiId);
    expect(r.slices).toEqual(s.slices);
    expect(r.masks).toEqual(s.masks);
    expect(r.valid).toEqual(s.valid);
    expect(r.box).toEqual(s.box);
    expect(r.report).toEqual(s.report);
    expect(r.placement).toEqual(s.placement);
  });
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'mrn-roicache-'));
  const dir = await writePhantomCase(join(root, 'cases'), 'RJPD_001');
  theCase = {
    id: 'RJPD_001',
    label: 1,
    files: {
      QSM: join(dir, 'QSM.nii.gz'),
      NM: join(dir, 'NM.nii.gz'),
      QSM_mask: join(dir, 'QSM_mask.nii.gz'),
      NM_mask: join(dir, 'NM_mask.nii.gz'),
    },
  };
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('preprocessCaseCached', () => {
  it('misses, then hits with identical tensors', async () => {
    const cache = { dir: join(root, 'c1') };
    const first = await preprocessCaseCached(theCase, OPTS, cache);
    expect(first.hit).toBe(false);
    expect(first.missReason).toBe('absent');
    const second = await preprocessCaseCached(theCase, OPTS, cache);
    expect(second.hit).toBe(true);
    expect(second.path).toBe(first.path);
    expectSameCase(second.result, first.result);
    expectSameCase(second.result, await preprocessCase(theCase, OPTS));
    expect(second.result.label).toBe(1);
    // A relabelled case keeps its tensors (labels are not image content).
    const relabelled = await preprocessCaseCached({ ...theCase, label: 0 }, OPTS, cache);
    expect(relabelled.hit).toBe(true);
    expect(relabelled.result.label).toBe(0);
  });

  it('is invalidated by an input file change, and replaces the stale entry', async () => {
    const cache = { dir: join(root, 'c2') };
    await preprocessCaseCached(theCase, OPTS, cache);
    const later = new Date(Date.now() + 5000);
    await utimes(theCase.files.QSM_mask, later, later);
    const after = await preprocessCaseCached(theCase, OPTS, cache);
    expect(after.hit).toBe(false);
    expect((await readdir(cache.dir)).filter((n) => n.endsWith('.mrnroi'))).toHaveLength(1);
    expect((await preprocessCaseCached(theCase, OPTS, cache)).hit).toBe(true);
  });

  it('is invalidated by options and ROI definitions', async () => {
    const base = await roiCacheKey(theCase, OPTS);
    expect(await roiCacheKey(theCase, OPTS)).toBe(base);
    expect(await roiCacheKey(theCase, { size: 24, rois: MRN_ROIS })).toBe(base); // defaults resolve equal
    expect(await roiCacheKey(theCase, { size: 32 })).not.toBe(base);
    expect(await roiCacheKey(theCase, { ...OPTS, qsm: { windowPpb: [-100, 300] } })).not.toBe(base);
    expect(await roiCacheKey(theCase, { ...OPTS, depth: 'pad' })).not.toBe(base);
    const wider = MRN_ROIS.map((r) => (r.id === 'qsm-dn' ? { ...r, marginMm: [6, 6, 2] as const } : r));
    expect(await roiCacheKey(theCase, { ...OPTS, rois: wider })).not.toBe(base);
    expect(await roiCacheKey(theCase, OPTS, 'hash')).not.toBe(base);
    expect(await roiCacheKey({ ...theCase, id: 'RJPD_002' }, OPTS)).not.toBe(base);
  });

  it("with validate 'hash' survives a touch but not a content change", async () => {
    const cache = { dir: join(root, 'c3'), validate: 'hash' as const };
    const opts = { ...OPTS, rois: [getMrnRoi('qsm-dn')] };
    await preprocessCaseCached(theCase, opts, cache);
    const later = new Date(Date.now() + 10000);
    await utimes(theCase.files.QSM, later, later);
    expect((await preprocessCaseCached(theCase, opts, cache)).hit).toBe(true);
    const original = await readFile(theCase.files.QSM);
    const volumes = phantomVolumes();
    volumes.QSM.data.data[0] = 5; // one voxel differs
    await writeNifti(volumes.QSM, theCase.files.QSM);
    await utimes(theCase.files.QSM, later, later); // same mtime as the cached entry saw
    try {
      expect((await preprocessCaseCached(theCase, opts, cache)).hit).toBe(false);
    } finally {
      await writeFile(theCase.files.QSM, original);
    }
  });

  it('rebuilds unreadable entries and rejects other format versions and keys', async () => {
    const cache = { dir: join(root, 'c4') };
    const first = await preprocessCaseCached(theCase, OPTS, cache);
    const bytes = await readFile(first.path);
    await writeFile(first.path, bytes.subarray(0, bytes.length - 100)); // truncated
    const rebuilt = await preprocessCaseCached(theCase, OPTS, cache);
    expect(rebuilt.hit).toBe(false);
    expect(rebuilt.missReason).toBe('unreadable');
    expectSameCase(rebuilt.result, first.result);
    const key = await roiCacheKey(theCase, OPTS);
    const encoded = encodeRoiCacheEntry(first.result, key);
    expect(decodeRoiCacheEntry(encoded, key)).toBeDefined();
    expect(decodeRoiCacheEntry(encoded, 'another-key')).toBeUndefined();
    const otherVersion = Buffer.from(encoded);
    otherVersion.writeUInt32LE(999, 8);
    expect(decodeRoiCacheEntry(otherVersion, key)).toBeUndefined();
    const raw = encodeRoiCacheEntry(first.result, key, false);
    expect(raw.length).toBeGreaterThan(encoded.length);
    expectSameCase(decodeRoiCacheEntry(raw, key)!, first.result);
  });
});
