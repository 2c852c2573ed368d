/**
 * MultiRoiNet: the whole MRN model. One shared slice encoder, one RES branch per ROI, and the patient
 * fusion head, with `apply(batch) -> outputs` over the {@link MrnBatch}/{@link MrnOutputs} contract,
 * a weight summary, and save/load to a directory.
 */

import * as tf from '@tensorflow/tfjs';
import { MrnError } from '../errors.js';
import { fileSystemIO } from '../io/file-system-io.js';
import { createRng } from '../rng.js';
import { MRN_VERSION } from '../version.js';
import type { NamedWeight } from './mrn-layer.js';
import { canonicalHeadWeightPath, WEIGHT_NAME_SEPARATOR } from './weight-names.js';
import { checkSegResolution, type SegResolution } from './aux-seg-head.js';
import { PatientFusionHead, type FusionMode } from './patient-fusion-head.js';
import { RoiBranch } from './roi-branch.js';
import { SliceEncoder, toSliceBackbone, type BackboneInfo, type SliceBackboneLike } from './slice-encoder.js';
import {
  isFeatureInput,
  type MrnBatch,
  type MrnOutputs,
  type RoiFeatureInput,
  type RoiInput,
} from './types.js';

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
 * The four MRN ROIs as {@link RoiSpec}s, matching `MRN_ROIS` in `data/rois.ts`: nm-sn (bg, SN),
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

/** Configuration of {@link MultiRoiNet}. Every field has a documented default. */
export interface MultiRoiNetConfig {
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

/** A {@link MultiRoiNetConfig} with every default filled in. */
export type ResolvedMultiRoiNetConfig = Required<MultiRoiNetConfig>;

/** Options of {@link MultiRoiNet} that are objects, not configuration. */
export interface MultiRoiNetOptions {
  /** The 2D backbone. Without one, the model takes cached features only. */
  backbone?: SliceBackboneLike;
  /** Facts the backbone cannot tell itself. */
  backboneInfo?: BackboneInfo;
}

/** Options of {@link MultiRoiNet.apply}. */
export interface ApplyOptions {
  /** Training mode (passed to the backbone). Default false. */
  training?: boolean;
  /** Resolution of `segLogits` for this call. Default: the model's `config.segResolution`. */
  segResolution?: SegResolution;
}

/** A weight of the model with its stable path and trainability. */
export interface ModelWeight extends NamedWeight {
  /** Whether an optimiser should update it. */
  trainable: boolean;
}

const MODEL_FORMAT = 'mrn-multi-roi-net';

function resolveConfig(config: MultiRoiNetConfig, options: MultiRoiNetOptions): ResolvedMultiRoiNetConfig {
  const bb = options.backbone ? { backbone: toSliceBackbone(options.backbone, options.backboneInfo) } : null;
  const backboneDim = config.backboneDim ?? bb?.backbone.embedDim;
  if (backboneDim === undefined) {
    throw new MrnError(
      'E_CONFIG',
      'MultiRoiNet: give a backbone or config.backboneDim (the backbone token width)',
    );
  }
  if (bb && bb.backbone.embedDim !== backboneDim) {
    throw new MrnError(
      'E_CONFIG',
      `MultiRoiNet: config.backboneDim = ${backboneDim} but the backbone's embedDim is ${bb.backbone.embedDim}`,
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
  checkSegResolution(config.segResolution ?? 'block', (m) => {
    throw new MrnError('E_CONFIG', `MultiRoiNet: ${m}`);
  });
  return {
    rois,
    embedDim: config.embedDim ?? 256,
    heads: config.heads ?? 4,
    sfaDepth: config.sfaDepth ?? 2,
    mlpRatio: config.mlpRatio ?? 2,
    maxSlices: config.maxSlices ?? 32,
    segPrior: config.segPrior ?? true,
    segHiddenDim: config.segHiddenDim ?? 64,
    segUpsample: config.segUpsample ?? 4,
    sliceSize: config.sliceSize ?? 224,
    segResolution: config.segResolution ?? 'block',
    fusion: config.fusion ?? 'transformer',
    fusionDepth: config.fusionDepth ?? 1,
    projectionDim: config.projectionDim ?? 128,
    numClasses: config.numClasses ?? 2,
    backboneDim,
    patchSize: config.patchSize ?? bb?.backbone.patchSize ?? 14,
    chunkSize: config.chunkSize ?? 32,
    trainBackbone: config.trainBackbone ?? false,
    seed: config.seed ?? 0,
  };
}

/**
 * The MRN model. Owns a {@link SliceEncoder} (when a backbone is given), one {@link RoiBranch} per ROI
 * and a {@link PatientFusionHead}; every weight exists from construction on.
 *
 * @example
 * ```ts
 * const model = new MultiRoiNet({ embedDim: 256 }, { backbone: vit });
 * const out = model.apply({ rois: { 'nm-sn': { slices, valid }, ... } }, { training: true });
 * await model.save('./ckpt');
 * const again = await MultiRoiNet.load('./ckpt', { backbone: vit });
 * ```
 */
export class MultiRoiNet {
  /** The configuration with every default filled in. */
  readonly config: ResolvedMultiRoiNetConfig;
  /** The slice encoder, or null when the model was built without a backbone (features only). */
  readonly encoder: SliceEncoder | null;
  /** The branches by ROI id, in R-axis order. */
  readonly branches: ReadonlyMap<string, RoiBranch>;
  /** The patient fusion head. */
  readonly fusionHead: PatientFusionHead;

  constructor(config: MultiRoiNetConfig = {}, options: MultiRoiNetOptions = {}) {
    this.config = resolveConfig(config, options);
    const c = this.config;
    const rng = createRng(c.seed);
    this.encoder = options.backbone
      ? new SliceEncoder({
          name: 'slice_encoder',
          backbone: options.backbone,
          backboneInfo: options.backboneInfo,
          chunkSize: c.chunkSize,
          trainBackbone: c.trainBackbone,
        })
      : null;
    if (this.encoder && this.encoder.backbone.patchSize !== c.patchSize) {
      throw new MrnError(
        'E_CONFIG',
        `MultiRoiNet: config.patchSize = ${c.patchSize} but the backbone's patch size is ${this.encoder.backbone.patchSize}`,
      );
    }
    const branches = new Map<string, RoiBranch>();
    for (const roi of c.rois) {
      const branch = new RoiBranch({
        name: `roi_branch_${roi.id.replace(/[^A-Za-z0-9_]/g, '_')}`,
        numSegClasses: roi.numClasses,
        embedDim: c.embedDim,
        inputDim: c.backboneDim,
        heads: c.heads,
        sfaDepth: c.sfaDepth,
        mlpRatio: c.mlpRatio,
        maxSlices: roi.slices ?? c.maxSlices,
        segPrior: c.segPrior,
        segHiddenDim: c.segHiddenDim,
        segUpsample: c.segUpsample,
        outputSize: c.sliceSize,
        segResolution: c.segResolution,
        patchSize: c.patchSize,
        seed: rng.fork().seed(),
      });
      branch.ensureBuilt([
        [null, null, null, c.backboneDim],
        [null, null, c.backboneDim],
        [null, null],
      ]);
      branches.set(roi.id, branch);
    }
    this.branches = branches;
    this.fusionHead = new PatientFusionHead({
      name: 'patient_fusion_head',
      numRois: c.rois.length,
      embedDim: c.embedDim,
      numClasses: c.numClasses,
      fusion: c.fusion,
      depth: c.fusionDepth,
      heads: c.heads,
      mlpRatio: c.mlpRatio,
      projectionDim: c.projectionDim,
      seed: rng.fork().seed(),
    });
    this.fusionHead.ensureBuilt([null, c.rois.length, c.embedDim]);
  }

  /** ROI ids in R-axis order. */
  get roiIds(): string[] {
    return this.config.rois.map((r) => r.id);
  }

  /**
   * Every weight with a stable path, parts joined by `.` (see `weight-names.ts`):
   * `backbone.<backbone weight>`, `branches.<roi>.<branch weight>`, `fusion.<head weight>`.
   */
  namedWeights(): ModelWeight[] {
    const trainable = new Set(this.trainableWeights);
    const out: ModelWeight[] = this.backboneWeights().map((w) => ({
      ...w,
      trainable: trainable.has(w.variable),
    }));
    for (const [id, branch] of this.branches) {
      for (const w of branch.namedWeights()) {
        out.push({
          path: `branches.${id}.${w.path}`,
          variable: w.variable,
          trainable: trainable.has(w.variable),
        });
      }
    }
    for (const w of this.fusionHead.namedWeights()) {
      out.push({ path: `fusion.${w.path}`, variable: w.variable, trainable: trainable.has(w.variable) });
    }
    return out;
  }

  /**
   * The backbone's weights under `backbone.`, in the backbone's `weights` order. A backbone that is one
   * layer (mrn's ViT) names them by their names inside it (`backbone.blocks.0.attn.qkv.kernel`), so the
   * layer's own name does not enter the checkpoint; a model of several layers by layer and weight name.
   */
  backboneWeights(): NamedWeight[] {
    if (!this.encoder?.hasBackbone) return [];
    const weights = this.encoder.backbone.weights ?? [];
    const firstParts = new Set(weights.map((w) => w.originalName.split('/')[0]));
    const inner = (name: string) => (firstParts.size === 1 ? name.slice(name.indexOf('/') + 1) : name);
    return weights.map((w) => ({
      path: `backbone.${inner(w.originalName).replace(/\//g, WEIGHT_NAME_SEPARATOR)}`,
      variable: w,
    }));
  }

  /** The weights an optimiser should update (the backbone's only with `trainBackbone`). */
  get trainableWeights(): tf.LayerVariable[] {
    return [
      ...(this.encoder?.trainableWeights ?? []),
      ...[...this.branches.values()].flatMap((b) => b.trainableWeights),
      ...this.fusionHead.trainableWeights,
    ];
  }

  /** The `tf.Variable`s of {@link MultiRoiNet.trainableWeights}, for `optimizer.minimize(f, false, varList)`. */
  trainableVariables(): tf.Variable[] {
    return this.trainableWeights.map((w) => w.read() as tf.Variable);
  }

  /** Number of scalars in the trainable weights. */
  countTrainableParams(): number {
    return this.trainableWeights.reduce((n, w) => n + size(w.shape), 0);
  }

  /**
   * A table of every weight, nested ones included: path, shape, parameters, trainable; then totals.
   * Returned as a string, and passed line by line to `print` when given.
   */
  summary(print?: (line: string) => void): string {
    const rows = this.namedWeights().map((w) => [
      w.path,
      `[${w.variable.shape.join(', ')}]`,
      String(size(w.variable.shape)),
      w.trainable ? 'yes' : 'no',
    ]);
    const header = ['weight', 'shape', 'params', 'trainable'];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const fmt = (r: string[]) =>
      r.map((cell, i) => (i === 2 ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join('  ');
    const total = this.namedWeights().reduce((n, w) => n + size(w.variable.shape), 0);
    const lines = [
      `MultiRoiNet: ${this.roiIds.length} ROIs (${this.roiIds.join(', ')}), E=${this.config.embedDim}, ` +
        `fusion=${this.config.fusion}, backbone ${this.encoder?.hasBackbone ? (this.config.trainBackbone ? 'fine-tuned' : 'frozen') : 'absent (features only)'}`,
      fmt(header),
      fmt(widths.map((w) => '-'.repeat(w))),
      ...rows.map(fmt),
      `total params: ${total}; trainable: ${this.countTrainableParams()}; non-trainable: ${total - this.countTrainableParams()}`,
    ];
    if (print) lines.forEach((l) => print(l));
    return lines.join('\n');
  }

  private fail(message: string, details?: Record<string, unknown>): never {
    throw new MrnError('E_INVALID_ARGUMENT', `MultiRoiNet: ${message}`, { details });
  }

  /** Checks that every ROI is present and that B agrees everywhere. Returns B. */
  private checkBatch(batch: MrnBatch): number {
    if (!batch || typeof batch !== 'object' || !batch.rois) this.fail('batch.rois is missing');
    const given = Object.keys(batch.rois);
    const missing = this.roiIds.filter((id) => !batch.rois[id]);
    if (missing.length) {
      this.fail(`batch lacks ROI input(s) ${missing.join(', ')}; the model needs ${this.roiIds.join(', ')}`, {
        missing,
        given,
      });
    }
    const unknown = given.filter((id) => !this.branches.has(id));
    if (unknown.length) {
      this.fail(
        `batch has unknown ROI id(s) ${unknown.join(', ')}; the model has ${this.roiIds.join(', ')}`,
        {
          unknown,
        },
      );
    }
    let b: number | null = null;
    for (const id of this.roiIds) {
      const input = batch.rois[id]!;
      const lead = isFeatureInput(input) ? input.patch : input.slices;
      if (!(lead instanceof tf.Tensor)) {
        this.fail(`ROI '${id}': ${isFeatureInput(input) ? 'patch' : 'slices'} must be a tensor`);
      }
      b ??= lead.shape[0];
      if (lead.shape[0] !== b) this.fail(`ROI '${id}' has batch size ${lead.shape[0]}, other ROIs ${b}`);
    }
    if (batch.labels && (batch.labels.rank !== 1 || batch.labels.shape[0] !== b)) {
      this.fail(`labels must have shape [${b}], got [${batch.labels.shape.join(', ')}]`);
    }
    return b!;
  }

  /** Checks one ROI's tensors against each other (ranks, B, D, N, E, mask shape). */
  private checkRoi(id: string, input: RoiInput): void {
    const c = this.config;
    const expect = (what: string, t: tf.Tensor | undefined, shape: (number | null)[]) => {
      if (!(t instanceof tf.Tensor)) this.fail(`ROI '${id}': ${what} is missing`);
      const ok = t.rank === shape.length && shape.every((s, i) => s === null || s === t.shape[i]);
      if (!ok) {
        const want = shape.map((s) => (s === null ? '?' : s)).join(', ');
        this.fail(`ROI '${id}': ${what} must have shape [${want}], got [${t.shape.join(', ')}]`, {
          roi: id,
          expected: shape,
          actual: t.shape,
        });
      }
    };
    let b: number;
    let d: number;
    if (isFeatureInput(input)) {
      expect('patch', input.patch, [null, null, null, c.backboneDim]);
      [b, d] = input.patch.shape;
      expect('cls', input.cls, [b, d, c.backboneDim]);
    } else {
      expect('slices', input.slices, [null, null, null, null, null]);
      [b, d] = input.slices.shape;
    }
    expect('valid', input.valid, [b, d]);
    if (input.masks) {
      const classes = c.rois.find((r) => r.id === id)!.numClasses;
      if (input.masks instanceof tf.Tensor && input.masks.rank === 5) {
        expect('masks (per-block class fractions)', input.masks, [b, d, null, null, classes]);
      } else {
        expect('masks', input.masks, [b, d, null, null]);
      }
    }
    const max = c.rois.find((r) => r.id === id)!.slices ?? c.maxSlices;
    if (d > max) this.fail(`ROI '${id}' has D = ${d} slices, more than its ${max}`, { roi: id, d, max });
  }

  private features(id: string, input: RoiInput, training: boolean): RoiFeatureInput {
    if (isFeatureInput(input)) return input;
    if (!this.encoder) {
      throw new MrnError(
        'E_CONFIG',
        `MultiRoiNet: ROI '${id}' is given as images but the model has no backbone; pass cached features or build it with a backbone`,
      );
    }
    const [patch, cls] = this.encoder.call([input.slices], { training }) as [tf.Tensor4D, tf.Tensor3D];
    return { patch, cls, valid: input.valid };
  }

  /**
   * Runs the model on a batch (synchronously, so it can run inside `optimizer.minimize`). ROIs given
   * as images go through the slice encoder (in-graph tfjs backbones only; use
   * {@link MultiRoiNet.applyAsync} for asynchronous engines). The caller disposes the outputs.
   *
   * @throws MrnError `E_INVALID_ARGUMENT` for missing/unknown ROIs, wrong ranks, or B/D mismatches.
   */
  apply(batch: MrnBatch, options: ApplyOptions = {}): MrnOutputs {
    this.checkBatch(batch);
    for (const id of this.roiIds) this.checkRoi(id, batch.rois[id]!);
    const training = options.training ?? false;
    const segResolution = options.segResolution ?? this.config.segResolution;
    checkSegResolution(segResolution, (m) => this.fail(m));
    return tf.tidy(() => {
      const tokens: tf.Tensor2D[] = [];
      const segLogits: Record<string, tf.Tensor5D> = {};
      const sliceAttention: Record<string, tf.Tensor2D> = {};
      const patchAttention: Record<string, tf.Tensor3D> = {};
      for (const id of this.roiIds) {
        const f = this.features(id, batch.rois[id]!, training);
        const [token, seg, sliceAttn, patchAttn] = this.branches
          .get(id)!
          .call([f.patch, f.cls, f.valid], { segResolution });
        tokens.push(token as tf.Tensor2D);
        segLogits[id] = seg as tf.Tensor5D;
        sliceAttention[id] = sliceAttn as tf.Tensor2D;
        patchAttention[id] = patchAttn as tf.Tensor3D;
      }
      const roiTokens = tf.stack(tokens, 1) as tf.Tensor3D;
      const [logits, patientEmbedding, projections, roiAttention] = this.fusionHead.call(roiTokens);
      const out: MrnOutputs = {
        roiIds: this.roiIds,
        logits: logits as tf.Tensor2D,
        patientEmbedding: patientEmbedding as tf.Tensor2D,
        roiTokens,
        projections: projections as tf.Tensor3D,
        segLogits,
        sliceAttention,
        patchAttention,
      };
      if (roiAttention) out.roiAttention = roiAttention as tf.Tensor2D;
      return out as unknown as tf.TensorContainer;
    }) as unknown as MrnOutputs;
  }

  /**
   * Like {@link MultiRoiNet.apply}, but encodes image ROIs with {@link SliceEncoder.encode} first, so
   * asynchronous backbones (the ONNX engine) work and padding slices skip the backbone. Inference
   * only: gradients do not reach the backbone.
   */
  async applyAsync(batch: MrnBatch, options: ApplyOptions = {}): Promise<MrnOutputs> {
    this.checkBatch(batch);
    for (const id of this.roiIds) this.checkRoi(id, batch.rois[id]!);
    const encoded: tf.Tensor[] = [];
    try {
      const rois: Record<string, RoiInput> = {};
      for (const id of this.roiIds) {
        const input = batch.rois[id]!;
        if (isFeatureInput(input)) {
          rois[id] = input;
          continue;
        }
        if (!this.encoder) this.features(id, input, false);
        const f = await this.encoder!.encode(input.slices, {
          valid: input.valid,
          training: options.training,
        });
        encoded.push(f.patch, f.cls);
        rois[id] = { patch: f.patch, cls: f.cls, valid: input.valid, masks: input.masks };
      }
      return this.apply({ rois, labels: batch.labels }, options);
    } finally {
      tf.dispose(encoded);
    }
  }

  /** The resolved configuration, plus a description of the backbone (JSON-serialisable). */
  getConfig(): ResolvedMultiRoiNetConfig {
    return JSON.parse(JSON.stringify(this.config)) as ResolvedMultiRoiNetConfig;
  }

  /** Model artifacts (tfjs `model.json` topology + weights) for any tfjs IO handler. */
  async toArtifacts(): Promise<tf.io.ModelArtifacts> {
    const weights = this.namedWeights().filter(
      (w) => !w.path.startsWith('backbone.') || this.config.trainBackbone,
    );
    const { data, specs } = await tf.io.encodeWeights(
      weights.map((w) => ({ name: w.path, tensor: w.variable.read() })),
    );
    return {
      modelTopology: {
        className: 'MultiRoiNet',
        config: this.getConfig(),
        backbone: this.encoder?.hasBackbone
          ? {
              embedDim: this.encoder.backbone.embedDim,
              patchSize: this.encoder.backbone.patchSize,
              weightsSaved: this.config.trainBackbone,
            }
          : null,
      } as unknown as tf.io.ModelArtifacts['modelTopology'],
      format: MODEL_FORMAT,
      generatedBy: `mrn ${MRN_VERSION}`,
      convertedBy: null,
      weightSpecs: specs,
      weightData: data,
    };
  }

  /**
   * Saves the model to a directory (`model.json` + `weights.bin`, through {@link fileSystemIO}) or to
   * any tfjs IO handler. A frozen backbone's weights are not saved (pass the backbone to `load`); a
   * fine-tuned one's are.
   */
  async save(target: string | tf.io.IOHandler): Promise<tf.io.SaveResult> {
    const handler = typeof target === 'string' ? fileSystemIO(target) : target;
    if (!handler.save)
      throw new MrnError('E_INVALID_ARGUMENT', 'MultiRoiNet.save: the IO handler cannot save');
    return handler.save(await this.toArtifacts());
  }

  /**
   * Loads a model saved by {@link MultiRoiNet.save} from a directory or IO handler. Pass the same
   * backbone to take image inputs (required when the backbone was fine-tuned).
   *
   * @throws MrnError `E_CHECKPOINT` for a foreign format, a mismatched backbone, or missing, extra or
   *   mis-shaped weights; `E_FILE_NOT_FOUND` when the files are absent.
   */
  static async load(
    source: string | tf.io.IOHandler,
    options: MultiRoiNetOptions = {},
  ): Promise<MultiRoiNet> {
    const handler = typeof source === 'string' ? fileSystemIO(source) : source;
    if (!handler.load)
      throw new MrnError('E_INVALID_ARGUMENT', 'MultiRoiNet.load: the IO handler cannot load');
    const where = typeof source === 'string' ? source : undefined;
    const artifacts = await handler.load();
    const topology = artifacts.modelTopology as
      | {
          className?: string;
          config?: MultiRoiNetConfig;
          backbone?: { embedDim: number; patchSize: number; weightsSaved: boolean } | null;
        }
      | undefined;
    if (artifacts.format !== MODEL_FORMAT || topology?.className !== 'MultiRoiNet' || !topology.config) {
      throw new MrnError(
        'E_CHECKPOINT',
        `MultiRoiNet.load: not a MultiRoiNet checkpoint (format '${artifacts.format}')`,
        {
          file: where,
        },
      );
    }
    const saved = topology.backbone;
    if (saved?.weightsSaved && !options.backbone) {
      throw new MrnError(
        'E_CHECKPOINT',
        'MultiRoiNet.load: the checkpoint holds a fine-tuned backbone; pass that backbone',
        {
          file: where,
        },
      );
    }
    // Checkpoints from before segResolution existed trained against full-resolution maps.
    const config: MultiRoiNetConfig = {
      ...topology.config,
      segResolution: topology.config.segResolution ?? 'full',
    };
    let model: MultiRoiNet;
    try {
      model = new MultiRoiNet(config, options);
    } catch (cause) {
      if (cause instanceof MrnError && cause.code === 'E_CONFIG') {
        throw new MrnError(
          'E_CHECKPOINT',
          `MultiRoiNet.load: the backbone does not match the checkpoint: ${cause.message}`,
          {
            file: where,
            cause,
          },
        );
      }
      throw cause;
    }
    try {
      model.loadWeights(artifacts, where);
    } catch (error) {
      model.dispose();
      throw error;
    }
    return model;
  }

  /**
   * Today's path of a saved weight name, for checkpoints of any mrn version: head paths through
   * {@link canonicalHeadWeightPath}; `backbone/<i>/...` (before the `.` convention) as the i-th
   * backbone weight.
   */
  canonicalWeightPath(name: string): string {
    const legacyBackbone = /^backbone\/(\d+)\//.exec(name);
    if (legacyBackbone) return this.backboneWeights()[Number(legacyBackbone[1])]?.path ?? name;
    return name.startsWith('backbone.') ? name : canonicalHeadWeightPath(name);
  }

  /** Assigns weights from artifacts by path; every expected weight must be present with its shape. */
  private loadWeights(artifacts: tf.io.ModelArtifacts, file?: string): void {
    const specs = artifacts.weightSpecs ?? [];
    const data = artifacts.weightData;
    const buffer = Array.isArray(data) ? tf.io.concatenateArrayBuffers(data) : (data ?? new ArrayBuffer(0));
    const decoded = tf.io.decodeWeights(buffer, specs);
    const tensors: tf.NamedTensorMap = {};
    for (const [name, t] of Object.entries(decoded)) tensors[this.canonicalWeightPath(name)] = t;
    try {
      const expected = this.namedWeights().filter(
        (w) => !w.path.startsWith('backbone.') || this.config.trainBackbone,
      );
      const missing = expected.filter((w) => !tensors[w.path]).map((w) => w.path);
      const wanted = new Set(expected.map((w) => w.path));
      const extra = Object.keys(tensors).filter((name) => !wanted.has(name));
      const misShaped = expected
        .filter(
          (w) =>
            tensors[w.path] && !tf.util.arraysEqual(tensors[w.path]!.shape, w.variable.shape as number[]),
        )
        .map((w) => `${w.path}: saved [${tensors[w.path]!.shape}] vs model [${w.variable.shape}]`);
      if (missing.length || extra.length || misShaped.length) {
        throw new MrnError(
          'E_CHECKPOINT',
          `MultiRoiNet.load: weights do not match the model (missing ${missing.length}, extra ${extra.length}, mis-shaped ${misShaped.length})` +
            `${[...missing.slice(0, 3), ...extra.slice(0, 3), ...misShaped.slice(0, 3)].map((s) => `\n  ${s}`).join('')}`,
          { file, details: { missing, extra, misShaped } },
        );
      }
      for (const w of expected) w.variable.write(tensors[w.path]!);
      // The ViT caches its interpolated position embedding: drop what was computed from the old values.
      (this.encoder?.backbone as { clearPositionCache?: () => void } | undefined)?.clearPositionCache?.();
    } finally {
      tf.dispose(Object.values(decoded));
    }
  }

  /** Frees the heads' weights (not the backbone's: the caller owns it). */
  dispose(): void {
    for (const branch of this.branches.values()) branch.dispose();
    this.fusionHead.dispose();
  }
}

function size(shape: readonly (number | null)[]): number {
  return shape.reduce((a: number, b) => a * (b ?? 0), 1);
}
