/**
 * MultiRoiNet: the whole MRN model. One shared slice encoder, one RES branch per ROI, and the patient
 * fusion head, with `apply(batch) -> outputs` over the {@link MrnBatch}/{@link MrnOutputs} contract,
 * a weight summary, and save/load to a directory.
 */

import * as tf from '@tensorflow/tfjs';
import { invalidArgument, MrnError } from '../errors.js';
import { createRng } from '../rng.js';
import { expectShape, type NamedWeight } from './mrn-layer.js';
import { canonicalHeadWeightPath, WEIGHT_NAME_SEPARATOR } from './weight-names.js';
import { checkSegResolution, type SegResolution } from './aux-seg-head.js';
import {
  resolveMultiRoiNetConfig,
  type MultiRoiNetConfig,
  type ResolvedMultiRoiNetConfig,
} from './multi-roi-net-config.js';
import { loadMultiRoiNet, multiRoiNetArtifacts, saveMultiRoiNet } from './multi-roi-net-io.js';
import { PatientFusionHead } from './patient-fusion-head.js';
import { RoiBranch } from './roi-branch.js';
import { SliceEncoder, type BackboneInfo, type SliceBackboneLike } from './slice-encoder.js';
import {
  isFeatureInput,
  type MrnBatch,
  type MrnOutputs,
  type RoiFeatureInput,
  type RoiInput,
} from './types.js';

export * from './multi-roi-net-config.js';

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
    this.config = resolveMultiRoiNetConfig(config, options);
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
    throw invalidArgument('MultiRoiNet', message, details);
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
    const fail = (message: string, details?: Record<string, unknown>): never =>
      this.fail(`ROI '${id}': ${message}`, { roi: id, ...details });
    const expect = (what: string, t: tf.Tensor | undefined, shape: tf.Shape) =>
      expectShape(fail, what, t, shape);
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
  toArtifacts(): Promise<tf.io.ModelArtifacts> {
    return multiRoiNetArtifacts(this);
  }

  /**
   * Saves the model to a directory (`model.json` + `weights.bin`, through {@link fileSystemIO}) or to
   * any tfjs IO handler. A frozen backbone's weights are not saved (pass the backbone to `load`); a
   * fine-tuned one's are.
   */
  save(target: string | tf.io.IOHandler): Promise<tf.io.SaveResult> {
    return saveMultiRoiNet(this, target);
  }

  /**
   * Loads a model saved by {@link MultiRoiNet.save} (by any mrn version) from a directory or IO
   * handler. Pass the same backbone to take image inputs (required when the backbone was fine-tuned).
   *
   * @throws MrnError `E_CHECKPOINT` for a foreign format, a mismatched backbone, or missing, extra or
   *   mis-shaped weights; `E_FILE_NOT_FOUND` when the files are absent.
   */
  static load(source: string | tf.io.IOHandler, options: MultiRoiNetOptions = {}): Promise<MultiRoiNet> {
    return loadMultiRoiNet(source, options, (config, opts) => new MultiRoiNet(config, opts));
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

  /** Frees the heads' weights (not the backbone's: the caller owns it). */
  dispose(): void {
    for (const branch of this.branches.values()) branch.dispose();
    this.fusionHead.dispose();
  }
}

function size(shape: readonly (number | null)[]): number {
  return shape.reduce((a: number, b) => a * (b ?? 0), 1);
}
