/**
 * The MRN architectures by name, like `VIT_PRESETS` for the backbone: every default of
 * {@link MultiRoiNet} (and of its layers, whose own defaults read this table) lives here, once.
 *
 * `new MultiRoiNet({ preset: 'mrn-tiny', embedDim: 32 })` starts from a preset and overrides fields;
 * without `preset` a model is `'mrn-paper'`.
 */

import { MrnError } from '../errors.js';
import type { SegResolution } from './aux-seg-head.js';
import type { FusionMode } from './patient-fusion-head.js';

/** The architecture fields a preset fixes (everything but the ROIs, the backbone width and the seed). */
export interface MrnArchitecture {
  /** Token width E of the branches, ROI tokens and patient embedding. */
  embedDim: number;
  /** Attention heads of the SFA and fusion transformers. */
  heads: number;
  /** Transformer blocks of each branch's SFA stage. */
  sfaDepth: number;
  /** MLP hidden width as a multiple of E. */
  mlpRatio: number;
  /** Slice-position embedding size for ROIs without `slices`. */
  maxSlices: number;
  /** Use the aux head's foreground probability as a prior on FFA pooling. */
  segPrior: boolean;
  /** Hidden width of the aux heads. */
  segHiddenDim: number;
  /** Sub-patch resolution of the aux heads. */
  segUpsample: number;
  /** Side S of the ROI slices (and of the aux heads' full-resolution logit maps). */
  sliceSize: number;
  /** Resolution of the aux heads' logits and so of the aux loss (see `MultiRoiNetConfig`). */
  segResolution: SegResolution;
  /** Patient fusion: `'transformer'` or `'concat-mlp'`. */
  fusion: FusionMode;
  /** Transformer blocks of the fusion head. */
  fusionDepth: number;
  /** Width P of the contrastive projections. */
  projectionDim: number;
  /** Output classes K (0 = HC, 1 = PD). */
  numClasses: number;
  /** Backbone patch size when no backbone tells it. */
  patchSize: number;
  /** Slices per backbone call. */
  chunkSize: number;
  /** Fine-tune the backbone (else it is frozen). */
  trainBackbone: boolean;
}

/** A preset name: `'mrn-paper'` (the paper's sizes, the default) or `'mrn-tiny'` (tests, demos, CPU). */
export type MrnPresetName = 'mrn-paper' | 'mrn-tiny';

/** The preset a model without `preset` uses. */
export const DEFAULT_MRN_PRESET: MrnPresetName = 'mrn-paper';

const MRN_PAPER: MrnArchitecture = Object.freeze({
  embedDim: 256,
  heads: 4,
  sfaDepth: 2,
  mlpRatio: 2,
  maxSlices: 32,
  segPrior: true,
  segHiddenDim: 64,
  segUpsample: 4,
  sliceSize: 224,
  segResolution: 'block',
  fusion: 'transformer',
  fusionDepth: 1,
  projectionDim: 128,
  numClasses: 2,
  patchSize: 14,
  chunkSize: 32,
  trainBackbone: false,
});

/**
 * The architectures by name. `'mrn-paper'`: E = 256, 4 heads, 2 SFA blocks, aux heads 64 wide at 4x
 * sub-patch resolution, 128-wide projections. `'mrn-tiny'`: E = 16, 2 heads, 1 SFA block, aux heads 8
 * wide at 2x, 8-wide projections (seconds per epoch on a CPU; what the tests and demos train).
 */
export const MRN_PRESETS: Readonly<Record<MrnPresetName, Readonly<MrnArchitecture>>> = Object.freeze({
  'mrn-paper': MRN_PAPER,
  'mrn-tiny': Object.freeze({
    ...MRN_PAPER,
    embedDim: 16,
    heads: 2,
    sfaDepth: 1,
    segHiddenDim: 8,
    segUpsample: 2,
    projectionDim: 8,
  }),
});

/** True when `name` is a key of {@link MRN_PRESETS}. */
export function isMrnPresetName(name: unknown): name is MrnPresetName {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(MRN_PRESETS, name);
}

/**
 * A preset with the defined fields of `overrides` on top (undefined fields keep the preset's value).
 *
 * @throws MrnError `E_CONFIG` for an unknown preset name.
 */
export function resolveMrnArchitecture(
  overrides: Partial<MrnArchitecture> & { preset?: MrnPresetName } = {},
): MrnArchitecture & { preset: MrnPresetName } {
  const preset = overrides.preset ?? DEFAULT_MRN_PRESET;
  if (!isMrnPresetName(preset)) {
    throw new MrnError('E_CONFIG', `unknown MRN preset '${String(preset)}'`, {
      details: { known: Object.keys(MRN_PRESETS) },
    });
  }
  const out: MrnArchitecture & { preset: MrnPresetName } = { ...MRN_PRESETS[preset], preset };
  for (const key of Object.keys(MRN_PAPER) as Array<keyof MrnArchitecture>) {
    if (overrides[key] !== undefined) (out as unknown as Record<string, unknown>)[key] = overrides[key];
  }
  return out;
}

/**
 * The sub-patch resolution at which a model's aux heads are trained, when they train at block
 * resolution (`segResolution: 'block'`), else null: what the feature extraction reduces the masks to.
 * Read from the resolved architecture, so a preset's `segUpsample` counts as much as an explicit one.
 */
export function auxBlockUpsample(
  config: Partial<MrnArchitecture> & { preset?: MrnPresetName } = {},
): number | null {
  const architecture = resolveMrnArchitecture(config);
  return architecture.segResolution === 'block' ? architecture.segUpsample : null;
}
