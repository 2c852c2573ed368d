/**
 * The configuration of {@link MultiRoiNet}: the ROIs it has, the {@link MultiRoiNetConfig} fields (a
 * preset from {@link MRN_PRESETS} plus overrides), and their resolution against a backbone.
 */

import { MrnError } from '../errors.js';
import { checkSegResolution, type SegResolution } from './aux-seg-head.js';
import { resolveMrnArchitecture, type MrnPresetName } from './mrn-presets.js';
import type { FusionMode } from './patient-fusion-head.js';
import { toSliceBackbone, type BackboneInfo, type SliceBackboneLike } from './slice-backbone.js';

/** What {@link MultiRoiNet} needs to know about an ROI. */
export interface RoiSpec {
  /** ROI id, the key of {@link MrnBatch.rois} (e.g. `'qsm-bg'`). */
  id: string;
  /** Segmentation classes of the ROI's auxiliary head, background included. */
  numClasses: number;
  /** Most slices D of the ROI's stacks (size of its slice-position embedding). Default: `maxSlices`. */
  slices?: number;
}

/**
 * The four MRN ROIs as {@link RoiSpec}s, matching `MRN_ROIS` in `preprocess/roi-definitions.ts`: nm-sn (bg, SN),
 * qsm-bg (bg, CN, PUT, GP, THA), qsm-mb (bg, STN, SN, RN), qsm-dn (bg, DN).
 */
export const DEFAULT_ROI_SPECS: readonly RoiSpec[] = Object.freeze([
  { id: 'nm-sn', numClasses: 2, slices: 8 },
  { id: 'qsm-bg', numClasses: 5, slices: 20 },
  { id: 'qsm-mb', numClasses: 4, slices: 10 },
  { id: 'qsm-dn', numClasses: 2, slices: 8 },
]);

/**
 * {@link RoiSpec}s from ROI definitions (e.g. `MRN_ROIS`): id, class count (background included) and
 * slice count. Structural, so this module does not depend on the ROI pipeline.
 */
export function roiSpecsFromDefinitions(
  definitions: readonly { id: string; classes: readonly unknown[]; slices?: number }[],
): RoiSpec[] {
  return definitions.map((d) => ({ id: d.id, numClasses: d.classes.length, slices: d.slices }));
}

/**
 * Configuration of {@link MultiRoiNet}: a preset (default `'mrn-paper'`) and fields that override it.
 * The defaults below are `'mrn-paper'`'s (see {@link MRN_PRESETS}).
 */
export interface MultiRoiNetConfig {
  /** The architecture to start from; the fields below override it. Default `'mrn-paper'`. */
  preset?: MrnPresetName;
  /** The ROIs, in the order of the R axis. Default {@link DEFAULT_ROI_SPECS}. */
  rois?: RoiSpec[];
  /** Token width E of the branches, ROI tokens and patient embedding. Default 256. */
  embedDim?: number;
  /** Attention heads of the SFA and fusion transformers. Default 4. */
  heads?: number;
  /** Transformer blocks of each branch's SFA stage. Default 2. */
  sfaDepth?: number;
  /** MLP hidden width as a multiple of E. Default 2. */
  mlpRatio?: number;
  /** Slice-position embedding size for ROIs without `slices`. Default 32. */
  maxSlices?: number;
  /** Use the aux head's foreground probability as a prior on FFA pooling. Default true. */
  segPrior?: boolean;
  /** Hidden width of the aux heads. Default 64. */
  segHiddenDim?: number;
  /** Sub-patch resolution of the aux heads. Default 4. */
  segUpsample?: number;
  /** Side S of the ROI slices (and of the aux heads' full-resolution logit maps). Default 224. */
  sliceSize?: number;
  /**
   * Resolution of the aux heads' logits in {@link MrnOutputs.segLogits}, and so of the aux loss:
   * `'block'` = the heads' native `T x T` maps (T = token grid side × `segUpsample`, 64 at S = 224),
   * trained against per-block class fractions of the masks; `'full'` = resized bilinearly to
   * `sliceSize`, trained against the masks themselves. Default `'block'`; a checkpoint saved without
   * the field (before it existed) loads as `'full'`. `apply(batch, { segResolution: 'full' })` gives
   * full-resolution maps from any model.
   */
  segResolution?: SegResolution;
  /** Patient fusion: `'transformer'` or `'concat-mlp'`. Default `'transformer'`. */
  fusion?: FusionMode;
  /** Transformer blocks of the fusion head. Default 1. */
  fusionDepth?: number;
  /** Width P of the contrastive projections. Default 128. */
  projectionDim?: number;
  /** Output classes K. Default 2 (0 = HC, 1 = PD). */
  numClasses?: number;
  /** Backbone token width. Default: the backbone's `embedDim` (required when no backbone is given). */
  backboneDim?: number;
  /** Backbone patch size. Default: the backbone's, else 14. */
  patchSize?: number;
  /** Slices per backbone call. Default 32. */
  chunkSize?: number;
  /** Fine-tune the backbone (else it is frozen). Default false. */
  trainBackbone?: boolean;
  /** Seed of every initialiser. Default 0. */
  seed?: number;
}

/** A {@link MultiRoiNetConfig} with every default filled in (and the preset it started from). */
export type ResolvedMultiRoiNetConfig = Required<MultiRoiNetConfig>;

/** The backbone a configuration is resolved against (see {@link resolveMultiRoiNetConfig}). */
export interface ConfigBackbone {
  /** The 2D backbone, if any. */
  backbone?: SliceBackboneLike;
  /** Facts the backbone cannot tell itself. */
  backboneInfo?: BackboneInfo;
}

/**
 * Fills every field of a {@link MultiRoiNetConfig}: explicit fields, then (for the backbone width and
 * patch size) the backbone's, then the preset's.
 *
 * @throws MrnError `E_CONFIG` for an unknown preset, no backbone width, a width that contradicts the
 *   backbone's, no ROI, an ROI without id or a duplicate id, or an unknown `segResolution`.
 */
export function resolveMultiRoiNetConfig(
  config: MultiRoiNetConfig,
  options: ConfigBackbone = {},
): ResolvedMultiRoiNetConfig {
  const bb = options.backbone ? toSliceBackbone(options.backbone, options.backboneInfo) : null;
  const backboneDim = config.backboneDim ?? bb?.embedDim;
  if (backboneDim === undefined) {
    throw new MrnError(
      'E_CONFIG',
      'MultiRoiNet: give a backbone or config.backboneDim (the backbone token width)',
    );
  }
  if (bb && bb.embedDim !== backboneDim) {
    throw new MrnError(
      'E_CONFIG',
      `MultiRoiNet: config.backboneDim = ${backboneDim} but the backbone's embedDim is ${bb.embedDim}`,
    );
  }
  const rois = (config.rois ?? DEFAULT_ROI_SPECS).map((r) => ({ ...r }));
  if (rois.length === 0) throw new MrnError('E_CONFIG', 'MultiRoiNet: at least one ROI is needed');
  const ids = new Set<string>();
  for (const r of rois) {
    if (typeof r.id !== 'string' || r.id === '')
      throw new MrnError('E_CONFIG', 'MultiRoiNet: every ROI needs an id');
    if (ids.has(r.id)) throw new MrnError('E_CONFIG', `MultiRoiNet: duplicate ROI id '${r.id}'`);
    ids.add(r.id);
  }
  const architecture = resolveMrnArchitecture({
    ...config,
    patchSize: config.patchSize ?? bb?.patchSize,
  });
  checkSegResolution(architecture.segResolution, (m) => {
    throw new MrnError('E_CONFIG', `MultiRoiNet: ${m}`);
  });
  return { ...architecture, rois, backboneDim, seed: config.seed ?? 0 };
}
