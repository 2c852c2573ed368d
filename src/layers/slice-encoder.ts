/**
 * The slice encoder of MRN: applies a 2D vision backbone (DINOv2 by default) to every axial slice of
 * an ROI stack, folding patients and slices into one batch, in chunks so memory stays bounded.
 */

import { IMAGENET_NORMALIZATION } from './vit/vision-transformer.js';
import * as tf from '@tensorflow/tfjs';
import type { Kwargs } from '@tensorflow/tfjs-layers/dist/types.js';
import { MrnError } from '../errors.js';
import { MrnLayer, shapeList, type MrnLayerArgs } from './mrn-layer.js';
import { MRN_PRESETS } from './mrn-presets.js';
import { normalisedPixels } from './normalised-pixels.js';
import {
  toSliceBackbone,
  type BackboneInfo,
  type InputNormalization,
  type SliceBackbone,
  type SliceBackboneLike,
  type SliceFeatures,
} from './slice-backbone.js';

export * from './slice-backbone.js';

/** Defaults of this layer's arguments: the `'mrn-paper'` architecture. */
const DEFAULTS = MRN_PRESETS['mrn-paper'];

/** Backends whose tensors are plain CPU memory, where {@link normalisedPixels} beats the tensor ops. */
const CPU_MEMORY_BACKENDS = new Set(['wasm', 'cpu']);

/** Configuration of {@link SliceEncoder}. */
export interface SliceEncoderArgs extends MrnLayerArgs {
  /** The backbone. Not part of the serialised config unless it is a registered tfjs layer. */
  backbone?: SliceBackboneLike;
  /** Facts the backbone cannot tell itself (see {@link BackboneInfo}). */
  backboneInfo?: BackboneInfo;
  /** Most slices per backbone call; B·D slices run in chunks of this size. Default 32. */
  chunkSize?: number;
  /**
   * Let gradients reach the backbone (fine-tuning) and list its weights as trainable. Default false:
   * the backbone is frozen, its forward pass is hidden from the gradient tape (no activations kept),
   * and its features can be cached ({@link FeatureCache}).
   */
  trainBackbone?: boolean;
}

/** Options of {@link SliceEncoder.encode}. */
export interface EncodeOptions {
  /** `[B, D]` validity; padding slices (0) are not run through the backbone and get zero features. */
  valid?: tf.Tensor2D;
  /** Passed to the backbone (dropout etc.). Default false. */
  training?: boolean;
}

/** Output of {@link SliceEncoder.encode}. */
export interface EncodedSlices {
  /** `[B, D, N, E]` patch tokens. */
  patch: tf.Tensor4D;
  /** `[B, D, E]` CLS tokens. */
  cls: tf.Tensor3D;
}

/**
 * Slice encoder: runs a 2D backbone on every slice of `[B, D, S, S, C]` ROI stacks (C = 1 is
 * replicated to RGB, C = 3 is used as is), after the backbone's input normalisation. Patients and
 * slices fold into one batch of B·D images, processed `chunkSize` at a time.
 *
 * As a tfjs layer (`apply`/`call`, synchronous; in-graph tfjs backbones only) its input is the slices
 * and its outputs (in this order) are patch tokens `[B, D, N, E]` and CLS tokens `[B, D, E]`.
 * {@link SliceEncoder.encode} is the asynchronous path that serves every backbone, the ONNX engine
 * included, and skips padding slices.
 */
export class SliceEncoder extends MrnLayer {
  /** tfjs serialisation name. */
  static readonly className = 'SliceEncoder';
  readonly chunkSize: number;
  readonly trainBackbone: boolean;
  private backboneLike: SliceBackboneLike | null;
  private backboneInfo: BackboneInfo;
  private wrapped: SliceBackbone | null = null;

  constructor(args: SliceEncoderArgs = {}) {
    super(args);
    this.chunkSize = args.chunkSize ?? DEFAULTS.chunkSize;
    this.trainBackbone = args.trainBackbone ?? DEFAULTS.trainBackbone;
    this.backboneInfo = args.backboneInfo ?? {};
    this.backboneLike = args.backbone ?? null;
    this.assertPositiveInteger({ chunkSize: this.chunkSize });
    if (this.backboneLike) this.wrapped = toSliceBackbone(this.backboneLike, this.backboneInfo);
  }

  /** The wrapped backbone. @throws MrnError `E_CONFIG` when none is attached. */
  get backbone(): SliceBackbone {
    if (!this.wrapped) {
      throw new MrnError('E_CONFIG', `SliceEncoder '${this.name}': no backbone attached; call setBackbone()`);
    }
    return this.wrapped;
  }

  /** True when a backbone is attached. */
  get hasBackbone(): boolean {
    return this.wrapped !== null;
  }

  /** Attaches (or replaces) the backbone, e.g. after `fromConfig` or loading a checkpoint. */
  setBackbone(backbone: SliceBackboneLike, info: BackboneInfo = this.backboneInfo): void {
    this.backboneLike = backbone;
    this.backboneInfo = info;
    this.wrapped = toSliceBackbone(backbone, info);
  }

  /** The normalisation applied to the slices before the backbone. */
  get inputNormalization(): InputNormalization {
    return this.backbone.inputNormalization ?? IMAGENET_NORMALIZATION;
  }

  override get trainableWeights(): tf.LayerVariable[] {
    if (!this.trainable || !this.trainBackbone || !this.wrapped) return [];
    return (this.wrapped.weights ?? []).filter((w) => w.trainable);
  }

  override set trainableWeights(weights: tf.LayerVariable[]) {
    super.trainableWeights = weights;
  }

  override get nonTrainableWeights(): tf.LayerVariable[] {
    const all = this.wrapped?.weights ?? [];
    const trainable = new Set(this.trainableWeights);
    return all.filter((w) => !trainable.has(w));
  }

  override set nonTrainableWeights(weights: tf.LayerVariable[]) {
    super.nonTrainableWeights = weights;
  }

  override build(_inputShape: tf.Shape | tf.Shape[]): void {
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape[] {
    const [b, d, s] = shapeList(inputShape)[0]!;
    const bb = this.backbone;
    const g = typeof s === 'number' ? Math.floor(s / bb.patchSize) : null;
    return [
      [b!, d!, g === null ? null : g * g, bb.embedDim],
      [b!, d!, bb.embedDim],
    ];
  }

  private checkSlices(slices: tf.Tensor | undefined): tf.Tensor5D {
    this.expectShape('ROI slices', slices, [null, null, null, null, null]);
    const [, , h, w, c] = slices!.shape;
    if (h !== w) this.fail(`slices must be square, got ${h}x${w}`);
    if (c !== 1 && c !== 3) this.fail(`slices must have 1 or 3 channels, got ${c}`);
    return slices as tf.Tensor5D;
  }

  /** `[M, S, S, C]` in the model's intensity range to the backbone's normalised RGB. */
  private normalise(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const { mean, std } = this.inputNormalization;
      const scale = tf.tensor1d(std.map((s) => 1 / s));
      const offset = tf.tensor1d(mean.map((m, i) => -m / std[i]!));
      // Broadcasting a single channel against 3 per-channel constants replicates it to RGB.
      return tf.add(tf.mul(x, scale), offset) as tf.Tensor4D;
    });
  }

  /**
   * The normalised RGB pixels of slices `ids` (flat B·D indices) of `slices`. With the slices' values
   * read into CPU memory, picked and normalised in one pass ({@link normalisedPixels}, bit for bit what
   * `normalise` gives, and 3x cheaper on wasm than a gather and two broadcast ops);
   * without them, by those tensor ops.
   */
  private pickPixels(slices: tf.Tensor5D, values: ArrayLike<number> | null, ids: number[]): tf.Tensor4D {
    const [b, d, s, , c] = slices.shape;
    if (values) {
      const rgb = normalisedPixels(values, ids, s * s, c as 1 | 3, this.inputNormalization);
      return tf.tensor4d(rgb, [ids.length, s, s, 3]);
    }
    return tf.tidy(() => {
      const flat = tf.reshape(slices, [b * d, s, s, c]) as tf.Tensor4D;
      return this.normalise(ids.length === b * d ? flat : tf.gather(flat, ids));
    });
  }

  private checkFeatures(f: SliceFeatures, m: number): void {
    const e = this.backbone.embedDim;
    const okCls = f.cls?.rank === 2 && f.cls.shape[0] === m && f.cls.shape[1] === e;
    const okPatch = f.patch?.rank === 3 && f.patch.shape[0] === m && f.patch.shape[2] === e;
    if (!okCls || !okPatch) {
      throw new MrnError(
        'E_INVALID_ARGUMENT',
        `SliceEncoder '${this.name}': backbone returned cls [${f.cls?.shape}] and patch [${f.patch?.shape}]; ` +
          `expected [${m}, ${e}] and [${m}, N, ${e}]`,
      );
    }
  }

  /** Synchronous forward of `m` normalised images through the backbone, frozen unless `trainBackbone`. */
  private runSync(pixels: tf.Tensor4D, training: boolean): [tf.Tensor2D, tf.Tensor3D] {
    const forward = (x: tf.Tensor4D): [tf.Tensor2D, tf.Tensor3D] => {
      const out = this.backbone.forwardFeatures(x, { training });
      if (out instanceof Promise) {
        // Its work runs on after we give up (on tensors tidy frees): keep its failure from surfacing.
        out.catch(() => {});
        throw new MrnError(
          'E_INVALID_ARGUMENT',
          `SliceEncoder '${this.name}': the backbone is asynchronous; use encode() (or cached features) instead of apply()`,
        );
      }
      this.checkFeatures(out, x.shape[0]);
      return [out.cls, out.patch];
    };
    if (this.trainBackbone) return forward(pixels);
    // Frozen: run the backbone as one opaque op with a zero gradient, so the tape records none of its
    // activations. customGrad returns one tensor, so CLS travels as token 0 of the patch tensor.
    const frozen = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const x = args[0] as tf.Tensor4D;
      const [cls, patch] = forward(x);
      return { value: tf.concat([tf.expandDims(cls, 1), patch], 1), gradFunc: () => tf.zerosLike(x) };
    });
    const packed = frozen(pixels) as tf.Tensor3D;
    const [, tokens, e] = packed.shape;
    return [
      tf.reshape(tf.slice(packed, [0, 0, 0], [-1, 1, -1]), [-1, e]) as tf.Tensor2D,
      tf.slice(packed, [0, 1, 0], [-1, tokens - 1, -1]),
    ];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs?: Kwargs): tf.Tensor[] {
    const slices = this.checkSlices(this.singleInput(inputs, 'ROI slices'));
    const training = Boolean(kwargs?.training);
    return tf.tidy(() => {
      const [b, d, s, , c] = slices.shape;
      const flat = tf.reshape(slices, [b * d, s, s, c]) as tf.Tensor4D;
      const clsParts: tf.Tensor2D[] = [];
      const patchParts: tf.Tensor3D[] = [];
      for (let start = 0; start < b * d; start += this.chunkSize) {
        const size = Math.min(this.chunkSize, b * d - start);
        const [cls, patch] = tf.tidy(() => {
          const chunk = size === b * d ? flat : tf.slice(flat, [start, 0, 0, 0], [size, -1, -1, -1]);
          return this.runSync(this.normalise(chunk), training);
        });
        clsParts.push(cls);
        patchParts.push(patch);
      }
      const cls = clsParts.length === 1 ? clsParts[0]! : tf.concat(clsParts, 0);
      const patch = patchParts.length === 1 ? patchParts[0]! : tf.concat(patchParts, 0);
      const [, n, e] = patch.shape;
      return [tf.reshape(patch, [b, d, n, e]), tf.reshape(cls, [b, d, e])];
    });
  }

  /**
   * Encodes `[B, D, S, S, C]` slices with any backbone (synchronous or not), chunk by chunk. With
   * `valid`, padding slices skip the backbone and get zero features (they are masked downstream).
   * Inference path: no gradients flow through it. The caller disposes the result.
   */
  async encode(slices: tf.Tensor5D, options: EncodeOptions = {}): Promise<EncodedSlices> {
    this.checkSlices(slices);
    const [b, d, s] = slices.shape;
    let keep: number[] = Array.from({ length: b * d }, (_, i) => i);
    if (options.valid) {
      this.expectShape('valid flags', options.valid, [b, d]);
      const flags = await options.valid.data();
      keep = keep.filter((i) => flags[i]! > 0.5);
    }
    const clsParts: tf.Tensor2D[] = [];
    const patchParts: tf.Tensor3D[] = [];
    try {
      // Where tensors live in CPU memory, read the slices once for `pickPixels`; on a device (WebGPU,
      // WebGL, tfjs-node) they stay there.
      const values = CPU_MEMORY_BACKENDS.has(tf.getBackend()) ? await slices.data() : null;
      for (let start = 0; start < keep.length; start += this.chunkSize) {
        const ids = keep.slice(start, start + this.chunkSize);
        const pixels = this.pickPixels(slices, values, ids);
        let out: SliceFeatures;
        try {
          out = await this.backbone.forwardFeatures(pixels, { training: options.training ?? false });
        } finally {
          pixels.dispose();
        }
        // Backbones may return more than the contract's two tensors (the ViT adds `prenorm` and
        // `registers`); encode owns them all, so free the extras or every call leaks them.
        const extras = Object.values(out as unknown as Record<string, unknown>).filter(
          (t): t is tf.Tensor => t instanceof tf.Tensor && t !== out.cls && t !== out.patch,
        );
        tf.dispose(extras);
        try {
          this.checkFeatures(out, ids.length);
        } catch (error) {
          // The backbone handed its outputs over to us; mis-shaped ones are ours to free too.
          tf.dispose(
            ([out.cls, out.patch] as unknown[]).filter((t): t is tf.Tensor => t instanceof tf.Tensor),
          );
          throw error;
        }
        clsParts.push(out.cls);
        patchParts.push(out.patch);
      }
      return tf.tidy(() => {
        const e = this.backbone.embedDim;
        const n = patchParts[0]?.shape[1] ?? this.gridTokens(s);
        let cls: tf.Tensor = clsParts.length ? tf.concat(clsParts, 0) : tf.zeros([0, e]);
        let patch: tf.Tensor = patchParts.length ? tf.concat(patchParts, 0) : tf.zeros([0, n, e]);
        if (keep.length !== b * d) {
          // Scatter back: padding slices point at an appended zero row.
          const index = new Int32Array(b * d).fill(keep.length);
          keep.forEach((flatIndex, row) => (index[flatIndex] = row));
          cls = tf.gather(tf.concat([cls, tf.zeros([1, e])], 0), index);
          patch = tf.gather(tf.concat([patch, tf.zeros([1, n, e])], 0), index);
        }
        return {
          patch: tf.reshape(patch, [b, d, n, e]) as tf.Tensor4D,
          cls: tf.reshape(cls, [b, d, e]) as tf.Tensor3D,
        };
      });
    } finally {
      tf.dispose([...clsParts, ...patchParts]);
    }
  }

  private gridTokens(s: number): number {
    const g = Math.floor(s / this.backbone.patchSize);
    return g * g;
  }

  override getConfig(): tf.serialization.ConfigDict {
    const config: tf.serialization.ConfigDict = {
      ...super.getConfig(),
      chunkSize: this.chunkSize,
      trainBackbone: this.trainBackbone,
    };
    const info: tf.serialization.ConfigDict = {};
    if (this.backboneInfo.embedDim !== undefined) info.embedDim = this.backboneInfo.embedDim;
    if (this.backboneInfo.patchSize !== undefined) info.patchSize = this.backboneInfo.patchSize;
    if (this.backboneInfo.inputNormalization) {
      info.inputNormalization = {
        mean: [...this.backboneInfo.inputNormalization.mean],
        std: [...this.backboneInfo.inputNormalization.std],
      };
    }
    config.backboneInfo = info;
    // A registered tfjs layer backbone serialises with the encoder; other backbones are reattached.
    const like = this.backboneLike;
    if (like instanceof tf.layers.Layer) {
      const className = (like.constructor as unknown as { className?: string }).className;
      if (className && tf.serialization.SerializationMap.getMap().classNameMap[className]) {
        config.backbone = { className, config: like.getConfig() };
      }
    }
    return config;
  }

  /** Rebuilds from {@link SliceEncoder.getConfig}; a serialised layer backbone is rebuilt too. */
  static override fromConfig<T extends tf.serialization.Serializable>(
    cls: tf.serialization.SerializableConstructor<T>,
    config: tf.serialization.ConfigDict,
  ): T {
    const { backbone, ...rest } = config as Record<string, unknown>;
    const args = { ...rest } as SliceEncoderArgs;
    if (backbone && typeof backbone === 'object') {
      const spec = backbone as { className: string; config: tf.serialization.ConfigDict };
      const entry = tf.serialization.SerializationMap.getMap().classNameMap[spec.className];
      if (!entry) throw new MrnError('E_CONFIG', `SliceEncoder: unknown backbone class '${spec.className}'`);
      const [ctor, fromConfig] = entry;
      args.backbone = fromConfig(ctor, spec.config) as unknown as SliceBackboneLike;
    }
    return new cls(args as unknown as tf.serialization.ConfigDict);
  }
}
tf.serialization.registerClass(SliceEncoder);
