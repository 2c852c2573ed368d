/**
 * The frozen-backbone path: every case is preprocessed once, augmented into a fixed number of
 * variants (variant 0 unaugmented, the others drawn from a seed tied to the case id, so adding or
 * reordering cases never changes another case's variants), and every variant's slices are encoded
 * once by the slice encoder. Features go to a {@link FeatureCache} (outside the tfjs heap, float16
 * and disk spilling optional); the masks and validity flags the aux head needs are kept beside them,
 * compressed. Training then draws one cached variant per case per epoch and never runs the backbone.
 */

import * as tf from '@tensorflow/tfjs';
import { deflateSync, inflateSync } from 'fflate';
import { MrnError } from '../errors.js';
import {
  augmentCaseRois,
  createRoiAugmentation,
  type AugmentationOptions,
} from '../preprocess/augment/pipeline.js';
import type { RoiSample } from '../preprocess/augment/sample.js';
import { type PdcadCase } from '../pdcad/pdcad-case.js';
import {
  preprocessCase,
  type PreprocessedCase,
  type PreprocessOptions,
  resolvePreprocessOptions,
} from '../pdcad/preprocess-case.js';
import { caseInputsHash, type CaseFeatureStore } from './case-feature-store.js';
import { FeatureCache, type FeatureCacheOptions, type FeatureFileRange } from './feature-cache.js';
import type { SliceEncoder } from '../layers/slice-encoder.js';
import { blockClassFractions } from '../losses/block-targets.js';
import { createRng } from '../rng.js';
import type { FeatureSource, RoiFeatures } from './feature-batch.js';
import { ProgressBar } from './progress.js';

/**
 * What a {@link CachedFeatureSource} keeps beside one ROI's features (one variant of one case): its
 * shape, validity flags, and masks compressed as cached. A {@link CaseFeatureStore} writes it as is.
 */
export interface CachedRoiMeta {
  depth: number;
  size: number;
  tokens: number;
  embedDim: number;
  valid: Uint8Array;
  /** Class ids as uint8, deflated (masks are mostly background and compress ~50x); absent with blocks. */
  masks?: Uint8Array;
  /** Per-block class fractions `[D, T, T, K]` as float32 bytes, deflated. */
  blockMasks?: Uint8Array;
  blocks?: number;
  classes?: number;
}

/** One cached ROI of one variant, whole: features `[D, N, E]` and `[D, E]` (float32) and its meta. */
export interface CachedRoiEntry {
  meta: CachedRoiMeta;
  patch: Float32Array;
  cls: Float32Array;
}

/**
 * Masks at the aux head's block resolution: what {@link CachedFeatureSource} needs to reduce each
 * ROI's masks to per-block class fractions when it caches them.
 */
export interface SegBlockTargets {
  /** The aux heads' sub-patch resolution r (`segUpsample`): T = token grid side × r. */
  upsample: number;
  /** Classes K per ROI id, background included. */
  classes: Record<string, number>;
}

/**
 * A {@link FeatureSource} over a {@link FeatureCache}, with the masks and validity of every entry.
 * With `segBlocks`, masks are reduced once, when cached, to the aux head's per-block class fractions
 * (`[D, T, T, K]`, T = token grid side × `upsample`), and only those are kept.
 */
export class CachedFeatureSource implements FeatureSource {
  readonly cache: FeatureCache;
  /** How masks are reduced when cached; null keeps class ids at slice resolution. */
  readonly segBlocks: SegBlockTargets | null;
  private readonly meta = new Map<string, CachedRoiMeta>();

  constructor(
    readonly roiIds: readonly string[],
    readonly variants: number,
    cacheOptions: FeatureCacheOptions = {},
    segBlocks: SegBlockTargets | null = null,
  ) {
    this.cache = new FeatureCache(cacheOptions);
    if (segBlocks) {
      if (!Number.isInteger(segBlocks.upsample) || segBlocks.upsample < 1) {
        throw new MrnError(
          'E_CONFIG',
          `CachedFeatureSource: segBlocks.upsample must be a positive integer, got ${segBlocks.upsample}`,
        );
      }
      const missing = roiIds.filter((id) => !(segBlocks.classes[id]! >= 1));
      if (missing.length) {
        throw new MrnError(
          'E_CONFIG',
          `CachedFeatureSource: segBlocks.classes lacks ROI(s) ${missing.join(', ')}`,
        );
      }
    }
    this.segBlocks = segBlocks;
  }

  private static key(caseId: string, roiId: string, variant: number): string {
    return JSON.stringify([caseId, roiId, variant]);
  }

  /** True when every ROI and variant of the case is cached. */
  hasCase(caseId: string): boolean {
    for (const roi of this.roiIds) {
      for (let v = 0; v < this.variants; v++)
        if (!this.meta.has(CachedFeatureSource.key(caseId, roi, v))) return false;
    }
    return true;
  }

  /** Stores one ROI of one variant: its encoded slices (`[1, D, N, E]`, `[1, D, E]`) and its sample. */
  async put(
    caseId: string,
    roiId: string,
    variant: number,
    sample: RoiSample,
    encoded: { patch: tf.Tensor4D; cls: tf.Tensor3D },
  ): Promise<void> {
    const [, d, n, e] = encoded.patch.shape;
    if (d !== sample.depth) {
      throw new MrnError(
        'E_INTERNAL',
        `CachedFeatureSource.put: ${d} encoded slices for a ${sample.depth}-slice sample`,
        { caseId },
      );
    }
    // Masks first, so a bad mask leaves nothing half-cached.
    const meta: CachedRoiMeta = {
      depth: d,
      size: sample.size,
      tokens: n,
      embedDim: e,
      valid: Uint8Array.from(sample.valid, (v) => (v ? 1 : 0)),
    };
    if (this.segBlocks) {
      const grid = Math.round(Math.sqrt(n));
      if (grid * grid !== n) {
        throw new MrnError(
          'E_INTERNAL',
          `CachedFeatureSource.put: N = ${n} patch tokens are not a square grid`,
          {
            caseId,
          },
        );
      }
      const blocks = grid * this.segBlocks.upsample;
      const classes = this.segBlocks.classes[roiId]!;
      let fractions: Float32Array;
      try {
        fractions = blockClassFractions(sample.masks, { maps: d, size: sample.size, blocks, classes });
      } catch (cause) {
        throw new MrnError('E_INVALID_ARGUMENT', `ROI '${roiId}' masks: ${(cause as Error).message}`, {
          caseId,
          cause,
        });
      }
      meta.blocks = blocks;
      meta.classes = classes;
      meta.blockMasks = deflateSync(new Uint8Array(fractions.buffer), { level: 1 });
    } else {
      const masks = new Uint8Array(sample.masks.length);
      for (let i = 0; i < masks.length; i++) masks[i] = sample.masks[i]!;
      meta.masks = deflateSync(masks, { level: 1 });
    }
    await this.cache.putBatch([{ caseId, variant: `${roiId}:${variant}` }], roiId, encoded);
    this.meta.set(CachedFeatureSource.key(caseId, roiId, variant), meta);
  }

  /**
   * Stores one ROI of one variant whole, as {@link entry} returns it (what a {@link CaseFeatureStore}
   * file holds): the same entry {@link put} made. With `backing` (where `patch` and `cls` lie in such
   * a file), the cache reads the slices from that file instead of spilling copies of them.
   */
  putEntry(
    caseId: string,
    roiId: string,
    variant: number,
    entry: CachedRoiEntry,
    backing?: FeatureFileRange,
  ): void {
    const { meta, patch, cls } = entry;
    const [n, e] = [meta.tokens, meta.embedDim];
    if (patch.length !== meta.depth * n * e || cls.length !== meta.depth * e) {
      throw new MrnError(
        'E_INTERNAL',
        `CachedFeatureSource.putEntry: ROI '${roiId}' arrays do not match ${meta.depth} x ${n} x ${e}`,
        { caseId },
      );
    }
    for (let s = 0; s < meta.depth; s++) {
      this.cache.put(
        { caseId, roiId, slice: s, variant: `${roiId}:${variant}` },
        { cls: cls.subarray(s * e, (s + 1) * e), patch: patch.subarray(s * n * e, (s + 1) * n * e) },
        backing && {
          file: backing.file,
          clsOffset: backing.clsOffset + s * e * 4,
          patchOffset: backing.patchOffset + s * n * e * 4,
        },
      );
    }
    this.meta.set(CachedFeatureSource.key(caseId, roiId, variant), meta);
  }

  /** One ROI of one variant whole, masks still compressed (see {@link get} for them decoded). */
  entry(caseId: string, roiId: string, variant: number): CachedRoiEntry {
    const meta = this.meta.get(CachedFeatureSource.key(caseId, roiId, variant));
    if (!meta) {
      throw new MrnError('E_INVALID_ARGUMENT', `no cached features for ROI '${roiId}', variant ${variant}`, {
        caseId,
      });
    }
    const { depth, tokens, embedDim } = meta;
    const patch = new Float32Array(depth * tokens * embedDim);
    const cls = new Float32Array(depth * embedDim);
    for (let s = 0; s < depth; s++) {
      const f = this.cache.get({ caseId, roiId, slice: s, variant: `${roiId}:${variant}` });
      if (!f) throw new MrnError('E_INTERNAL', `feature cache lost slice ${s} of ROI '${roiId}'`, { caseId });
      patch.set(f.patch, s * tokens * embedDim);
      cls.set(f.cls, s * embedDim);
    }
    return { meta, patch, cls };
  }

  get(caseId: string, roiId: string, variant: number): RoiFeatures {
    const { meta: m, patch, cls } = this.entry(caseId, roiId, variant);
    const out: RoiFeatures = {
      depth: m.depth,
      tokens: m.tokens,
      embedDim: m.embedDim,
      patch,
      cls,
      valid: m.valid,
      size: m.size,
    };
    if (m.masks) out.masks = Int32Array.from(inflateSync(m.masks));
    if (m.blockMasks) {
      const bytes = inflateSync(m.blockMasks);
      out.blockMasks = new Float32Array(
        bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
      );
      out.blocks = m.blocks;
      out.classes = m.classes;
    }
    return out;
  }

  /** Frees the cache (and its spill files). */
  clear(): void {
    this.cache.clear();
    this.meta.clear();
  }
}

/** Options of {@link extractFeatures}. */
export interface ExtractFeaturesOptions {
  /** Preprocessing (ROIs, slice size S, intensity). Default: {@link preprocessCase}'s. */
  preprocessing?: PreprocessOptions;
  /** Cached variants per case (variant 0 is unaugmented). Default 4. */
  variants?: number;
  /** Augmentation ranges for variants 1.. Default: the pipeline's. */
  augmentation?: AugmentationOptions;
  /** Seed of the augmentation draws. Default 0. */
  seed?: number;
  /** Feature cache settings (precision, memory budget, spill folder). */
  cache?: FeatureCacheOptions;
  /** Add to this source instead of a new one (e.g. more cases later). */
  into?: CachedFeatureSource;
  /**
   * The aux heads' sub-patch resolution r when they train at block resolution (`segResolution`
   * `'block'`): masks are then cached as per-block class fractions `[D, T, T, K]`, T = token grid
   * side × r. Null caches class ids at slice resolution (for `'full'`). Default 4 (the model's
   * default `segUpsample`).
   */
  segUpsample?: number | null;
  /** Progress bar stream, or false. Default `process.stderr`. */
  progress?: false | { write(chunk: string): unknown; isTTY?: boolean };
  /** Keep the preprocessed case of these ids (for plots). Default none. */
  keepPreprocessed?: (caseId: string) => boolean;
  /**
   * Features stored by an earlier run with the same settings: a case found there (intact, same input
   * files) is read instead of extracted, and every extracted case is saved to it. Default none.
   * (`keepPreprocessed` cases are always preprocessed: they are needed as images.)
   */
  store?: CaseFeatureStore;
}

/** A case that could not be processed, with why. */
export interface FailedCase {
  caseId: string;
  error: Error;
}

/** What {@link extractFeatures} returns. */
export interface ExtractFeaturesResult {
  source: CachedFeatureSource;
  /** Cases whose preprocessing or encoding failed (left out of `source`). */
  failed: FailedCase[];
  /** The preprocessed cases asked for by `keepPreprocessed`. */
  preprocessed: Map<string, PreprocessedCase>;
  /** Seconds spent. */
  seconds: number;
}

function hashInputs(files: PdcadCase['files']): string | undefined {
  try {
    return caseInputsHash(files);
  } catch {
    return undefined;
  }
}

/** A 32-bit FNV-1a hash of a string, so a case's augmentation seed depends on its id only. */
export function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** The augmented variants of one preprocessed case: index 0 is the case itself. */
export function caseVariants(
  pre: PreprocessedCase,
  variants: number,
  seed: number,
  rois: readonly Parameters<typeof createRoiAugmentation>[0][],
  augmentation: AugmentationOptions = {},
): RoiSample[][] {
  const augs = rois.map((r) => createRoiAugmentation(r, augmentation));
  const out: RoiSample[][] = [pre.rois];
  for (let v = 1; v < variants; v++) {
    const rng = createRng(hashString(pre.caseId) * 1024 + (seed % 1024) * 64 + v);
    out.push(augmentCaseRois(pre.rois, augs, rng, augmentation.flipProbability).samples);
  }
  return out;
}

/**
 * Preprocesses, augments and encodes `cases` into a feature source. A case that fails (unreadable
 * file, missing nucleus) is recorded in `failed` and skipped; the others go on.
 */
export async function extractFeatures(
  cases: ReadonlyArray<Pick<PdcadCase, 'id' | 'label' | 'files'>>,
  encoder: SliceEncoder,
  options: ExtractFeaturesOptions = {},
): Promise<ExtractFeaturesResult> {
  const t0 = Date.now();
  const prep = resolvePreprocessOptions(options.preprocessing);
  const variants = options.variants ?? 4;
  if (!Number.isInteger(variants) || variants < 1) {
    throw new MrnError('E_CONFIG', `extractFeatures: variants must be a positive integer, got ${variants}`);
  }
  const source =
    options.into ??
    new CachedFeatureSource(
      prep.rois.map((r) => r.id),
      variants,
      options.cache,
      options.segUpsample === null
        ? null
        : {
            upsample: options.segUpsample ?? 4,
            classes: Object.fromEntries(prep.rois.map((r) => [r.id, r.classes.length])),
          },
    );
  if (source.variants !== variants) {
    throw new MrnError(
      'E_CONFIG',
      `extractFeatures: the source holds ${source.variants} variants, asked for ${variants}`,
    );
  }
  const failed: FailedCase[] = [];
  const preprocessed = new Map<string, PreprocessedCase>();
  const bar =
    options.progress === false
      ? undefined
      : new ProgressBar({ total: cases.length, label: 'features', stream: options.progress });
  for (const c of cases) {
    if (source.hasCase(c.id)) {
      bar?.tick(1, c.id);
      continue;
    }
    try {
      const keep = options.keepPreprocessed?.(c.id) ?? false;
      // An unreadable file leaves no hash: extraction below then reports it.
      const inputs = options.store ? hashInputs(c.files) : undefined;
      if (inputs && !keep && options.store!.load(source, c.id, inputs)) {
        bar?.tick(1, c.id);
        continue;
      }
      const pre = await preprocessCase(c, prep);
      if (keep) preprocessed.set(c.id, pre);
      const all = caseVariants(pre, variants, options.seed ?? 0, prep.rois, options.augmentation);
      for (let v = 0; v < variants; v++) {
        for (let r = 0; r < prep.rois.length; r++) {
          const sample = all[v]![r]!;
          const slices = tf.tensor5d(sample.slices, [1, sample.depth, sample.size, sample.size, 1]);
          const valid = tf.tensor2d(Float32Array.from(sample.valid), [1, sample.depth]);
          let encoded: { patch: tf.Tensor4D; cls: tf.Tensor3D } | undefined;
          try {
            encoded = await encoder.encode(slices, { valid });
            await source.put(c.id, prep.rois[r]!.id, v, sample, encoded);
          } finally {
            tf.dispose([slices, valid, ...(encoded ? [encoded.patch, encoded.cls] : [])]);
          }
        }
      }
      if (inputs) options.store!.save(source, c.id, inputs);
    } catch (error) {
      failed.push({ caseId: c.id, error: error instanceof Error ? error : new Error(String(error)) });
    }
    bar?.tick(1, c.id);
  }
  bar?.done(failed.length ? `${failed.length} failed` : undefined);
  return { source, failed, preprocessed, seconds: (Date.now() - t0) / 1000 };
}
