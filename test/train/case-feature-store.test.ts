import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend.js';
import { SliceEncoder } from '../../src/layers/slice-encoder.js';
import { loadPdcadCases } from '../../src/pdcad/load-cases.js';
import { type PdcadCase } from '../../src/pdcad/pdcad-case.js';
import { makeSyntheticCohort } from '../../src/synth/cohort.js';
import { resolveBackbone, type ResolvedBackbone } from '../../src/train/backbone.js';
import { CaseFeatureStore, featureFingerprint } from '../../src/train/case-feature-store.js';
import type { FeatureCacheOptions } from '../../src/train/feature-cache.js';
import { type CachedFeatureSource, extractFeatures } from '../../src/train/feature-extraction.js';
import { trainMrn } from '../../src/train/run.js';

// Three small synthetic cases at S = 28 (2 x 2 tokens), two variants, the random tiny ViT.
const SETTINGS = { size: 28, variants: 2 };
let root: string;
let cases: PdcadCase[];
let resolved: ResolvedBackbone;
let encoder: SliceEncoder;
let encodeCalls = 0;

async function extract(
  store: CaseFeatureStore | undefined,
  segUpsample?: number | null,
  cache?: FeatureCacheOptions,
): Promise<CachedFeatureSource> {
  const { source, failed } = await extractFeatures(cases, encoder, {
    preprocessing: { size: SETTINGS.size },
    variants: SETTINGS.variants,
    seed: 3,
    progress: false,
    store,
    ...(segUpsample !== undefined ? { segUpsample } : {}),
    ...(cache ? { cache } : {}),
  });
  if (failed.length) throw failed[0]!.error;
  return source;
}

/** Every ROI and variant of every case, as plain arrays. */
function contents(source: CachedFeatureSource): unknown[] {
  const out: unknown[] = [];
  for (const c of cases) {
    for (let v = 0; v < SETTINGS.variants; v++) {
      for (const roi of source.roiIds) {
        const f = source.get(c.id, roi, v);
        out.push([
          Array.from(f.patch),
          Array.from(f.cls),
          Array.from(f.valid),
          Array.from(f.blockMasks ?? []),
          Array.from(f.masks ?? []),
          [f.depth, f.tokens, f.embedDim, f.size, f.blocks, f.classes],
        ]);
      }
    }
  }
  return out;
}

function storeIn(
  dir: string,
  fingerprint = featureFingerprint({ test: 1 }),
  log?: string[],
): CaseFeatureStore {
  return new CaseFeatureStore(dir, fingerprint, log ? (l) => log.push(l) : undefined);
}

beforeAll(async () => {
  await selectBackend({ backend: 'cpu' });
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'mrn-feature-store-'));
  const summary = await makeSyntheticCohort({
    outDir: path.join(root, 'data'),
    cases: 3,
    seed: 21,
    fov: 'small',
  });
  cases = (await loadPdcadCases(path.join(root, 'data'), { labels: summary.labelsCsv })).cases;
  resolved = await resolveBackbone();
  encoder = new SliceEncoder({ name: 'store_test_encoder', backbone: resolved.backbone });
  const encode = encoder.encode.bind(encoder);
  encoder.encode = (...args: Parameters<typeof encode>) => {
    encodeCalls++;
    return encode(...args);
  };
}, 120_000);

afterAll(() => {
  resolved?.dispose();
  fs.rmSync(root, { recursive: true, force: true });
});

describe('CaseFeatureStore', () => {
  it('a second extraction reads every case from the store, runs no backbone and gets the same features', async () => {
    const dir = path.join(root, 'store-a');
    const fresh = await extract(undefined);
    const expected = contents(fresh);
    fresh.clear();
    const first = await extract(storeIn(dir));
    expect(contents(first)).toEqual(expected);
    first.clear();
    expect(fs.readdirSync(dir)).toHaveLength(cases.length);
    encodeCalls = 0;
    const second = await extract(storeIn(dir));
    expect(encodeCalls).toBe(0);
    expect(contents(second)).toEqual(expected);
    second.clear();
  }, 120_000);

  it('the cache reads stored cases from the store files instead of spilling copies of them', async () => {
    const dir = path.join(root, 'store-backing');
    const spillDir = path.join(root, 'spill-backing');
    const fresh = await extract(undefined);
    const expected = contents(fresh);
    fresh.clear();
    // A budget of a few slices: without the store almost everything would spill.
    const cache = { maxMemoryBytes: 4096, spillDir };
    for (const pass of ['extracted', 'loaded']) {
      encodeCalls = 0;
      const source = await extract(storeIn(dir), undefined, cache);
      expect(encodeCalls > 0).toBe(pass === 'extracted');
      const stats = source.cache.stats();
      expect(stats.fileBacked).toBeGreaterThan(stats.entries / 2);
      expect(stats.spilled).toBe(0);
      expect(fs.readdirSync(spillDir)).toEqual([]);
      expect(contents(source)).toEqual(expected);
      source.clear();
    }
    expect(fs.readdirSync(dir)).toHaveLength(cases.length); // clearing the cache leaves the store
  }, 120_000);

  it('keeps slice-resolution masks too (segUpsample null), and stores masks compressed', async () => {
    const dir = path.join(root, 'store-full-masks');
    const fresh = await extract(undefined, null);
    const expected = contents(fresh);
    expect((expected[0] as number[][])[4]!.length).toBeGreaterThan(0); // class ids are there
    const entries = expected as number[][][];
    const featureBytes = entries.reduce((n, e) => n + 4 * (e[0]!.length + e[1]!.length), 0);
    fresh.clear();
    (await extract(storeIn(dir), null)).clear();
    const stored = fs.readdirSync(dir).reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);
    // Raw uint8 masks would add S x S bytes per slice; deflated they add little beyond the features.
    const maskBytes = entries.reduce((n, e) => n + e[4]!.length, 0);
    expect(stored - featureBytes).toBeLessThan(maskBytes / 2);
    encodeCalls = 0;
    const again = await extract(storeIn(dir), null);
    expect(encodeCalls).toBe(0);
    expect(contents(again)).toEqual(expected);
    again.clear();
  }, 120_000);

  it('extracts again, and says why, for other settings, a damaged file or a changed input file', async () => {
    const dir = path.join(root, 'store-b');
    (await extract(storeIn(dir))).clear();
    const files = fs.readdirSync(dir).map((f) => path.join(dir, f));
    const log: string[] = [];

    encodeCalls = 0;
    (await extract(storeIn(dir, featureFingerprint({ test: 2 }), log))).clear();
    expect(encodeCalls).toBeGreaterThan(0);
    expect(log.filter((l) => l.includes('other extraction settings'))).toHaveLength(cases.length);

    // The files now hold settings { test: 2 }; damage one of them.
    const bytes = fs.readFileSync(files[0]!);
    bytes[bytes.length - 5] ^= 0xff;
    fs.writeFileSync(files[0]!, bytes);
    log.length = 0;
    encodeCalls = 0;
    const again = await extract(storeIn(dir, featureFingerprint({ test: 2 }), log));
    again.clear();
    expect(log).toHaveLength(1);
    expect(log[0]).toMatch(/\(corrupt file: checksum mismatch .*\): extracting again$/);
    expect(encodeCalls).toBe(SETTINGS.variants * 4); // one case, 4 ROIs per variant

    // A case whose NM volume is replaced by another case's is not the stored case any more.
    const nm = cases[1]!.files.NM;
    const backup = fs.readFileSync(nm);
    fs.copyFileSync(cases[2]!.files.NM, nm);
    try {
      log.length = 0;
      (await extract(storeIn(dir, featureFingerprint({ test: 2 }), log))).clear();
      expect(log).toEqual([expect.stringContaining('its input files changed')]);
    } finally {
      fs.writeFileSync(nm, backup);
    }
  }, 120_000);

  it('trainMrn reruns in the same folder from OUT/features, with the same results', async () => {
    const out = path.join(root, 'run');
    const config = {
      preprocessing: { size: SETTINGS.size },
      variants: 1,
      model: { preset: 'mrn-tiny' as const, embedDim: 16 },
      train: { epochs: 1, batchSize: 4, seed: 2 },
      valFraction: 0,
      parallelFolds: 1,
    };
    // 2-fold CV needs 8 cases, 4 per class: the 3 cases' files under 8 ids.
    const eight = Array.from({ length: 8 }, (_, i) => ({ ...cases[i % 3]!, id: `case-${i}`, label: i % 2 }));
    const first = await trainMrn(eight, 2, config, { outDir: out, progress: false });
    first.models.forEach((m) => m.dispose());
    const stored = fs.readdirSync(path.join(out, 'features'));
    expect(stored).toHaveLength(eight.length);
    const mtimes = stored.map((f) => fs.statSync(path.join(out, 'features', f)).mtimeMs);
    const metrics = JSON.parse(fs.readFileSync(path.join(out, 'metrics.json'), 'utf8'));
    const second = await trainMrn(eight, 2, config, { outDir: out, progress: false });
    second.models.forEach((m) => m.dispose());
    expect(stored.map((f) => fs.statSync(path.join(out, 'features', f)).mtimeMs)).toEqual(mtimes);
    const again = JSON.parse(fs.readFileSync(path.join(out, 'metrics.json'), 'utf8'));
    expect(again.pooled).toEqual(metrics.pooled);
    expect(again.folds).toEqual(metrics.folds);

    const without = path.join(root, 'run-without-store');
    const third = await trainMrn(
      eight,
      2,
      { ...config, featureStore: false },
      { outDir: without, progress: false },
    );
    third.models.forEach((m) => m.dispose());
    expect(fs.existsSync(path.join(without, 'features'))).toBe(false);
    expect(JSON.parse(fs.readFileSync(path.join(without, 'metrics.json'), 'utf8')).pooled).toEqual(
      metrics.pooled,
    );
  }, 240_000);
});
