/**
 * DINOv2 as a tfjs layer, numerically the official `DinoVisionTransformer` (eval mode): patch
 * embedding (done as a matmul over extracted patches, so its gradient exists on every backend), CLS
 * token, learned position embeddings resized bicubically to the input's patch grid, optional register
 * tokens, then the pre-norm {@link TransformerBlock}s of `blocks.ts` (the same blocks the MRN heads use)
 * with qkv bias, LayerScale, exact erf GELU (or SwiGLU) and LayerNorm eps 1e-6, then a final LayerNorm.
 *
 * Frozen by default. {@link VisionTransformer.setTrainableBlocks} unfreezes the last k blocks (and the
 * final norm) for partial tuning, or everything.
 */

import * as tf from '@tensorflow/tfjs';
import type { Initializer } from '@tensorflow/tfjs-layers/dist/initializers.js';
import type { LayerVariable } from '@tensorflow/tfjs-layers/dist/variables.js';
import { MrnError } from '../../errors.js';
import { LayerNormBlock, scopedParams, TransformerBlock } from '../blocks.js';
import type { ParamFactory } from '../mrn-layer.js';
import { canonicalVitWeightName } from '../weight-names.js';
import { cubicAntialiasTaps, cubicTaps, tapsToMatrix, type AxisTaps } from './bicubic.js';
import { interpolatePositionEmbedding } from './position-embedding.js';
import {
  VIT_PRESETS,
  assertVitFitsBackend,
  ffnHiddenSize,
  validateVitConfig,
  type VitConfig,
  type VitPresetName,
} from './vit-config.js';

/** ImageNet normalisation DINOv2 was trained with: `(pixel / 255 - mean) / std` per RGB channel. */
export const IMAGENET_NORMALIZATION: {
  readonly mean: [number, number, number];
  readonly std: [number, number, number];
} = Object.freeze({ mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] });

/** Which weights train: 0 (frozen), the last k blocks (plus the final norm), or `'all'`. */
export type TrainableBlocks = number | 'all';

/** Constructor arguments of {@link VisionTransformer}: a preset and/or explicit config fields. */
export interface VisionTransformerArgs extends Partial<VitConfig> {
  /** Start from a preset; explicit fields override it. Default `'dinov2-small'`. */
  preset?: VitPresetName;
  /** Trainable blocks (default 0: frozen). */
  trainableBlocks?: TrainableBlocks;
  /** How fresh weights are initialised: `'random'` (truncated normal 0.02, seeded) or `'zeros'` (to be loaded). */
  weightInit?: 'random' | 'zeros';
  /** Seed of the random initialisation (default 0). */
  seed?: number;
  /** Layer name. */
  name?: string;
}

/** The outputs of {@link VisionTransformer.forwardFeatures}. */
export interface VitFeatures {
  /** `[B, E]` CLS token after the final norm. */
  cls: tf.Tensor2D;
  /** `[B, R, E]` register tokens after the final norm (only when the model has registers). */
  registers?: tf.Tensor3D;
  /** `[B, N, E]` patch tokens after the final norm, row-major over the patch grid (row = image height). */
  patch: tf.Tensor3D;
  /** `[B, 1 + R + N, E]` all tokens before the final norm. */
  prenorm: tf.Tensor3D;
}

/** One block's normalised output from {@link VisionTransformer.intermediateLayers}. */
export interface VitIntermediate {
  /** `[B, E]` CLS token. */
  cls: tf.Tensor2D;
  /** `[B, R, E]` register tokens (only with registers). */
  registers?: tf.Tensor3D;
  /** `[B, N, E]` patch tokens. */
  patch: tf.Tensor3D;
}

/**
 * The shape of every weight mrn's DINOv2 holds, by mrn's weight name, in creation order. Names follow
 * timm's `vision_transformer.py` with `.` between parts (`blocks.0.attn.qkv.kernel`, `blocks.0.ls1.gamma`;
 * see docs/model.md); checkpoints written with the older `/` names load through
 * {@link canonicalVitWeightName}.
 */
export function vitWeightShapes(c: VitConfig): Array<[string, number[]]> {
  const e = c.embedDim;
  const h = ffnHiddenSize(c);
  const out: Array<[string, number[]]> = [
    ['patch_embed.kernel', [c.patchSize, c.patchSize, 3, e]],
    ['patch_embed.bias', [e]],
    ['cls_token', [1, 1, e]],
    ['pos_embed', [1, 1 + c.posGridSize ** 2, e]],
  ];
  if (c.numRegisters > 0) out.push(['register_tokens', [1, c.numRegisters, e]]);
  for (let i = 0; i < c.depth; i++) {
    const b = `blocks.${i}.`;
    const [fc1, fc2] = c.ffn === 'swiglu' ? ['w12', 'w3'] : ['fc1', 'fc2'];
    out.push(
      [`${b}norm1.gamma`, [e]],
      [`${b}norm1.beta`, [e]],
      [`${b}attn.qkv.kernel`, [e, 3 * e]],
      [`${b}attn.qkv.bias`, [3 * e]],
      [`${b}attn.proj.kernel`, [e, e]],
      [`${b}attn.proj.bias`, [e]],
      [`${b}ls1.gamma`, [e]],
      [`${b}norm2.gamma`, [e]],
      [`${b}norm2.beta`, [e]],
      [`${b}mlp.${fc1}.kernel`, [e, c.ffn === 'swiglu' ? 2 * h : h]],
      [`${b}mlp.${fc1}.bias`, [c.ffn === 'swiglu' ? 2 * h : h]],
      [`${b}mlp.${fc2}.kernel`, [h, e]],
      [`${b}mlp.${fc2}.bias`, [e]],
      [`${b}ls2.gamma`, [e]],
    );
  }
  out.push(['norm.gamma', [e]], ['norm.beta', [e]]);
  return out;
}

/**
 * tfjs's Gaussian generators treat a seed of 0 as "no seed" (`seed ? seed : Math.random()`), so the
 * weight drawn with seed 0 (the patch embedding of a default `seed: 0` ViT) differed on every run.
 * 0 is replaced by a fixed non-zero stand-in.
 */
const ZERO_SEED_STANDIN = 0x7fffffff;

function initializerFor(name: string, mode: 'random' | 'zeros', seed: number): Initializer {
  if (/gamma$/.test(name)) return tf.initializers.ones();
  if (mode === 'zeros' || /(bias|beta)$/.test(name)) return tf.initializers.zeros();
  return tf.initializers.truncatedNormal({ stddev: 0.02, seed: seed === 0 ? ZERO_SEED_STANDIN : seed });
}

/**
 * A DINOv2 vision transformer (tfjs layer). Input: `[B, H, W, 3]` pixels already ImageNet-normalised
 * (see {@link VisionTransformer.inputNormalization}), H and W multiples of the patch size (14).
 * `apply`/`call` returns `[cls [B, E], patch [B, N, E]]`; {@link forwardFeatures} returns everything.
 *
 * @example
 * ```ts
 * const vit = await loadDinov2('dinov2-small/');   // config.json + model.safetensors
 * const { cls, patch } = vit.forwardFeatures(pixels); // [B, 384], [B, 256, 384] at 224 x 224
 * ```
 */
export class VisionTransformer extends tf.layers.Layer {
  /** Serialisation name. */
  static readonly className = 'MrnVisionTransformer';

  /** The architecture. */
  readonly vitConfig: Readonly<VitConfig>;
  /** ImageNet mean/std the inputs must be normalised with. */
  readonly inputNormalization = IMAGENET_NORMALIZATION;

  private trainableBlocksSetting: TrainableBlocks;
  private readonly weightInit: 'random' | 'zeros';
  private readonly seed: number;
  private readonly vars = new Map<string, LayerVariable>();
  private readonly posCache = new Map<string, tf.Tensor2D>();
  private blocks: TransformerBlock[] = [];
  private norm: LayerNormBlock | null = null;

  constructor(args: VisionTransformerArgs = {}) {
    const { preset, trainableBlocks, weightInit, seed, name, ...fields } = args;
    super({ name, trainable: false });
    const base = VIT_PRESETS[preset ?? 'dinov2-small'];
    if (!base) {
      throw new MrnError('E_CONFIG', `unknown vision transformer preset '${preset}'`, {
        details: { known: Object.keys(VIT_PRESETS) },
      });
    }
    const config: VitConfig = { ...base };
    for (const key of Object.keys(base) as Array<keyof VitConfig>) {
      if (fields[key] !== undefined) (config as unknown as Record<string, unknown>)[key] = fields[key];
    }
    validateVitConfig(config);
    // refuse before a single weight is allocated
    assertVitFitsBackend(config, tf.getBackend());
    this.vitConfig = Object.freeze(config);
    this.trainableBlocksSetting = trainableBlocks ?? 0;
    this.checkTrainableBlocks(this.trainableBlocksSetting);
    this.weightInit = weightInit ?? 'random';
    this.seed = seed ?? 0;
  }

  /** Token width E. */
  get embedDim(): number {
    return this.vitConfig.embedDim;
  }

  /** Patch side in pixels. */
  get patchSize(): number {
    return this.vitConfig.patchSize;
  }

  /** Number of register tokens. */
  get numRegisters(): number {
    return this.vitConfig.numRegisters;
  }

  /** Number of transformer blocks. */
  get depth(): number {
    return this.vitConfig.depth;
  }

  /** The current {@link TrainableBlocks} setting. */
  get trainableBlocks(): TrainableBlocks {
    return this.trainableBlocksSetting;
  }

  override build(_inputShape: tf.Shape | tf.Shape[]): void {
    const c = this.vitConfig;
    const shapes = vitWeightShapes(c);
    const index = new Map(shapes.map(([name], k) => [name, k]));
    // Each weight's initial value depends on its name and its index in vitWeightShapes (its seed), not
    // on the order the blocks create them in, so random ViTs keep their weights across refactors.
    const param: ParamFactory = (name, shape) => {
      const init = initializerFor(name, this.weightInit, this.seed + index.get(name)!);
      const v = this.addWeight(name, shape, 'float32', init, undefined, true);
      this.vars.set(name, v);
      return v;
    };
    for (const [name, shape] of shapes.slice(0, c.numRegisters > 0 ? 5 : 4)) param(name, shape, 'zeros');
    const options = {
      hiddenDim: ffnHiddenSize(c),
      layerNormEps: c.layerNormEps,
      layerScale: true,
      ffn: c.ffn,
    };
    this.blocks = Array.from(
      { length: c.depth },
      (_, i) => new TransformerBlock(scopedParams(param, `blocks.${i}`), c.embedDim, c.numHeads, 0, options),
    );
    this.norm = new LayerNormBlock(scopedParams(param, 'norm'), c.embedDim, c.layerNormEps);
    this.built = true;
    this.applyTrainability();
  }

  /** Creates the weights if they do not exist yet (without running a forward pass). */
  ensureBuilt(): void {
    if (!this.built) this.apply(tf.input({ shape: [null, null, 3] }));
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape[] {
    const s = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const p = this.patchSize;
    const n = s[1] != null && s[2] != null ? Math.floor(s[1] / p) * Math.floor(s[2] / p) : null;
    return [
      [s[0], this.embedDim],
      [s[0], n, this.embedDim],
    ];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor[] {
    const pixels = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
    return tf.tidy(() => {
      const { cls, patch } = this.forwardFeatures(pixels);
      return [cls, patch];
    });
  }

  /**
   * The DINOv2 features of `pixels` `[B, H, W, 3]` (ImageNet-normalised, H and W multiples of the patch
   * size): CLS, register and patch tokens after the final norm, and all tokens before it. The caller
   * owns (disposes) the returned tensors.
   */
  forwardFeatures(pixels: tf.Tensor4D): VitFeatures {
    this.ensureBuilt();
    return tf.tidy(() => {
      const { x } = this.runBlocks(pixels, 0);
      return { ...this.splitTokens(this.norm!.apply(x)), prenorm: x } as unknown as tf.TensorContainer;
    }) as unknown as VitFeatures;
  }

  /**
   * The outputs of the last `n` blocks, each passed through the final norm, in block order (as the
   * official `get_intermediate_layers(n, norm=True, return_class_token=True)`).
   */
  intermediateLayers(pixels: tf.Tensor4D, n: number): VitIntermediate[] {
    if (!Number.isInteger(n) || n < 1 || n > this.depth) {
      throw new MrnError(
        'E_INVALID_ARGUMENT',
        `intermediateLayers: n must be an integer in 1..${this.depth}, got ${n}`,
      );
    }
    this.ensureBuilt();
    return tf.tidy(() => {
      const { outs } = this.runBlocks(pixels, n);
      return outs.map((o) => this.splitTokens(this.norm!.apply(o))) as unknown as tf.TensorContainer;
    }) as unknown as VitIntermediate[];
  }

  /**
   * Sets which weights train: 0 freezes everything (the default), k > 0 trains the last k blocks and the
   * final norm, `'all'` trains every weight including the embeddings. Gradients then reach exactly those
   * weights (the others are non-trainable tf.Variables, invisible to optimisers).
   */
  setTrainableBlocks(k: TrainableBlocks): void {
    this.checkTrainableBlocks(k);
    this.trainableBlocksSetting = k;
    if (this.built) this.applyTrainability();
  }

  /** The weight with mrn's name `name` (see {@link vitWeightShapes}; older `/` names are accepted). */
  weightByName(name: string): LayerVariable {
    this.ensureBuilt();
    const v = this.vars.get(canonicalVitWeightName(name));
    if (!v) throw new MrnError('E_WEIGHTS', `vision transformer has no weight '${name}'`);
    return v;
  }

  /** Overwrites one weight with row-major float32 values of its shape (used by the checkpoint loader). */
  assignWeight(name: string, values: Float32Array): void {
    const v = this.weightByName(name);
    const size = v.shape.reduce((a: number, b) => a * (b ?? 0), 1);
    if (values.length !== size) {
      throw new MrnError('E_WEIGHTS', `weight '${name}' has ${size} values, got ${values.length}`, {
        details: { name, shape: v.shape },
      });
    }
    tf.tidy(() => {
      v.write(tf.tensor(values, v.shape as number[], 'float32'));
    });
    if (canonicalVitWeightName(name) === 'pos_embed') this.clearPositionCache();
  }

  override setWeights(weights: tf.Tensor[]): void {
    super.setWeights(weights);
    this.clearPositionCache();
  }

  /** Frees the cached interpolated position embeddings (they are rebuilt on demand). */
  clearPositionCache(): void {
    for (const t of this.posCache.values()) t.dispose();
    this.posCache.clear();
  }

  override dispose(): ReturnType<tf.layers.Layer['dispose']> {
    this.clearPositionCache();
    return super.dispose();
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), ...this.vitConfig, trainableBlocks: this.trainableBlocksSetting };
  }

  // ------------------------------------------------------------------ internals

  private checkTrainableBlocks(k: TrainableBlocks): void {
    if (k !== 'all' && !(Number.isInteger(k) && k >= 0 && k <= this.vitConfig.depth)) {
      throw new MrnError(
        'E_INVALID_ARGUMENT',
        `trainableBlocks must be 'all' or an integer in 0..${this.vitConfig.depth}, got ${String(k)}`,
      );
    }
  }

  private applyTrainability(): void {
    const k = this.trainableBlocksSetting;
    // Layer.trainable's setter flips every weight; per-weight flags are then refined below.
    this.trainable = k !== 0;
    const first = k === 'all' ? 0 : this.depth - k;
    for (const [name, v] of this.vars) {
      const block = /^blocks\.(\d+)\./.exec(name);
      v.trainable = k === 'all' || (k > 0 && (block ? Number(block[1]) >= first : name.startsWith('norm.')));
    }
    this.clearPositionCache();
  }

  private read(name: string): tf.Tensor {
    return this.vars.get(name)!.read();
  }

  private patchGrid(pixels: tf.Tensor4D): [number, number] {
    if (pixels.rank !== 4 || pixels.shape[3] !== 3) {
      throw new MrnError(
        'E_INVALID_ARGUMENT',
        `vision transformer input must be [B, H, W, 3], got [${pixels.shape}]`,
      );
    }
    const p = this.patchSize;
    const [, h, w] = pixels.shape;
    if (h % p !== 0 || w % p !== 0 || h === 0 || w === 0) {
      throw new MrnError(
        'E_INVALID_ARGUMENT',
        `vision transformer input ${h}x${w} is not a multiple of the ${p}-pixel patch (resize or crop to e.g. ${Math.max(1, Math.round(h / p)) * p}x${Math.max(1, Math.round(w / p)) * p})`,
      );
    }
    return [h / p, w / p];
  }

  /** Patch embedding as a matmul: [B,H,W,3] -> [B*gh, p, gw, p*3] -> [B*gh, gw, p, p*3] -> [B*N, p*p*3]. */
  private embedPatches(pixels: tf.Tensor4D, gh: number, gw: number): tf.Tensor3D {
    const p = this.patchSize;
    const b = pixels.shape[0];
    const patches = tf.reshape(tf.transpose(tf.reshape(pixels, [b * gh, p, gw, p * 3]), [0, 2, 1, 3]), [
      b * gh * gw,
      p * p * 3,
    ]);
    const kernel = tf.reshape(this.read('patch_embed.kernel'), [p * p * 3, this.embedDim]);
    const x = tf.add(tf.matMul(patches, kernel), this.read('patch_embed.bias'));
    return tf.reshape(x, [b, gh * gw, this.embedDim]) as tf.Tensor3D;
  }

  /** `[1 + gh*gw, E]` position embeddings for a patch grid: cached when frozen, differentiable when trained. */
  private positionEmbedding(gh: number, gw: number): tf.Tensor2D {
    const pos = this.vars.get('pos_embed')!;
    const e = this.embedDim;
    const m = this.vitConfig.posGridSize;
    const how = { offset: this.vitConfig.interpolateOffset, antialias: this.vitConfig.interpolateAntialias };
    if (this.trainable && pos.trainable) {
      const full = tf.reshape(pos.read(), [1 + m * m, e]);
      if (gh === m && gw === m) return full as tf.Tensor2D;
      const ah = tf.tensor2d(tapsToMatrix(this.axisTaps(m, gh, how.offset, how.antialias)), [gh, m]);
      const aw = tf.tensor2d(tapsToMatrix(this.axisTaps(m, gw, how.offset, how.antialias)), [gw, m]);
      const grid = tf.slice(full, [1, 0], [m * m, e]);
      const t1 = tf.reshape(tf.matMul(ah, tf.reshape(grid, [m, m * e])), [gh, m, e]);
      const t2 = tf.reshape(tf.transpose(t1, [1, 0, 2]), [m, gh * e]);
      const t3 = tf.transpose(tf.reshape(tf.matMul(aw, t2), [gw, gh, e]), [1, 0, 2]);
      return tf.concat([tf.slice(full, [0, 0], [1, e]), tf.reshape(t3, [gh * gw, e])], 0) as tf.Tensor2D;
    }
    const key = `${gh}x${gw}`;
    let cached = this.posCache.get(key);
    if (!cached) {
      const values = interpolatePositionEmbedding(pos.read().dataSync() as Float32Array, e, gh, gw, how);
      cached = tf.keep(tf.tensor2d(values, [1 + gh * gw, e]));
      this.posCache.set(key, cached);
    }
    return cached;
  }

  private axisTaps(m: number, g: number, offset: number, antialias: boolean): AxisTaps {
    const scale = offset ? (g + offset) / m : undefined;
    if (antialias) {
      if (g === m) return cubicTaps(m, m, 1); // an unchanged axis is skipped: identity
      return cubicAntialiasTaps(m, g, scale);
    }
    return cubicTaps(m, g, scale);
  }

  /** Tokens through all blocks; also collects the raw outputs of the last `collect` blocks. */
  private runBlocks(pixels: tf.Tensor4D, collect: number): { x: tf.Tensor3D; outs: tf.Tensor3D[] } {
    const [gh, gw] = this.patchGrid(pixels);
    const b = pixels.shape[0];
    const e = this.embedDim;
    const patches = this.embedPatches(pixels, gh, gw);
    const cls = tf.tile(this.read('cls_token'), [b, 1, 1]);
    let x = tf.add(tf.concat([cls, patches], 1), this.positionEmbedding(gh, gw)) as tf.Tensor3D;
    const r = this.numRegisters;
    if (r > 0) {
      // registers go after the position embeddings, between CLS and the patches
      const regs = tf.tile(this.read('register_tokens'), [b, 1, 1]);
      x = tf.concat(
        [tf.slice(x, [0, 0, 0], [b, 1, e]), regs, tf.slice(x, [0, 1, 0], [b, gh * gw, e])],
        1,
      ) as tf.Tensor3D;
    }
    const outs: tf.Tensor3D[] = [];
    for (let i = 0; i < this.depth; i++) {
      x = this.blocks[i]!.apply(x);
      if (i >= this.depth - collect) outs.push(x);
    }
    return { x, outs };
  }

  private splitTokens(xn: tf.Tensor): VitIntermediate {
    const [b, t, e] = xn.shape as [number, number, number];
    const r = this.numRegisters;
    const out: VitIntermediate = {
      cls: tf.reshape(tf.slice(xn, [0, 0, 0], [b, 1, e]), [b, e]) as tf.Tensor2D,
      patch: tf.slice(xn, [0, 1 + r, 0], [b, t - 1 - r, e]) as tf.Tensor3D,
    };
    if (r > 0) out.registers = tf.slice(xn, [0, 1, 0], [b, r, e]) as tf.Tensor3D;
    return out;
  }
}

tf.serialization.registerClass(VisionTransformer);
