/**
 * Feature extraction as `trainMrn` runs it: the feature cache spilling into `OUT/cache`, and the
 * run's {@link CaseFeatureStore} in `OUT/features` so a rerun reads cases instead of extracting them.
 */

import path from 'node:path';
import { auxBlockUpsample } from '../layers/mrn-presets.js';
import type { SliceEncoder } from '../layers/slice-encoder.js';
import type { PdcadCase } from '../pdcad/pdcad-case.js';
import type { PreprocessOptions } from '../pdcad/preprocess-case.js';
import { MRN_VERSION } from '../version.js';
import { CaseFeatureStore, featureFingerprint } from './case-feature-store.js';
import type { CheckpointBackbone } from './checkpoint.js';
import type { FeatureCacheOptions } from './feature-cache.js';
import { extractFeatures } from './feature-extraction.js';
import type { MrnRunConfig, MrnRunIO } from './run.js';

/** Extracts (or reads from the run's feature store) every case's features, spilling into `OUT/cache`. */
export async function extractRunFeatures(
  cases: ReadonlyArray<Pick<PdcadCase, 'id' | 'label' | 'files'>>,
  encoder: SliceEncoder,
  config: MrnRunConfig,
  io: MrnRunIO,
  run: { prep: Required<PreprocessOptions>; variants: number; seed: number; backbone: CheckpointBackbone },
): Promise<Awaited<ReturnType<typeof extractFeatures>>> {
  const { prep, variants, seed, backbone } = run;
  const { outDir } = io;
  const cacheOptions: FeatureCacheOptions = {
    ...(outDir ? { spillDir: path.join(outDir, 'cache') } : {}),
    ...config.cache,
  };
  io.log?.(
    `extracting features of ${cases.length} cases (${variants} variant${variants === 1 ? '' : 's'} each, S=${prep.size})`,
  );
  const segUpsample = auxBlockUpsample(config.model);
  return extractFeatures(cases, encoder, {
    preprocessing: prep,
    variants,
    augmentation: config.augmentation,
    seed,
    cache: cacheOptions,
    progress: io.progress,
    // Block-resolution aux heads train against per-block class fractions, reduced once here.
    segUpsample,
    store: runFeatureStore(config, outDir, backbone, { prep, variants, seed, segUpsample }, io.log),
  });
}

/**
 * The run's {@link CaseFeatureStore} (`OUT/features/`), or none without a run folder or with
 * `featureStore: false`. Its fingerprint covers everything that decides a case's features.
 */
export function runFeatureStore(
  config: MrnRunConfig,
  outDir: string | undefined,
  backbone: CheckpointBackbone,
  extraction: {
    prep: Required<PreprocessOptions>;
    variants: number;
    seed: number;
    segUpsample: number | null;
  },
  log: ((line: string) => void) | undefined,
): CaseFeatureStore | undefined {
  if (!outDir || config.featureStore === false) return undefined;
  const fingerprint = featureFingerprint({
    mrnVersion: MRN_VERSION,
    backbone: backbone.sha256,
    preprocessing: extraction.prep,
    variants: extraction.variants,
    augmentation: config.augmentation ?? null,
    seed: extraction.seed,
    segUpsample: extraction.segUpsample,
    precision: config.cache?.precision ?? 'float32',
  });
  return new CaseFeatureStore(path.join(outDir, 'features'), fingerprint, log);
}
