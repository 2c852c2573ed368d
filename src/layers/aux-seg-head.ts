/**
 * The auxiliary segmentation head of the RES module: decodes each slice's grid of patch tokens into
 * per-pixel nucleus logits. Its loss (Dice + CE against the ROI masks) steers the ROI branch's token
 * features toward the nuclei, and its per-token foreground probability is the prior of the FFA pooling.
 */

import * as tf from '@tensorflow/tfjs';
import type { Kwargs } from '@tensorflow/tfjs-layers/dist/types.js';
import { DenseBlock, gelu, LayerNormBlock, scopedParams } from './blocks.js';
import { MrnLayer, shapeList, type MrnLayerArgs } from './mrn-layer.js';
import { resizeBilinearHalfPixel } from './resize-bilinear.js';
import { MRN_PRESETS } from './mrn-presets.js';

/** Defaults of this layer's arguments: the `'mrn-paper'` architecture. */
const DEFAULTS = MRN_PRESETS['mrn-paper'];

/**
 * Resolution of the aux head's logit maps: `'block'` = its native `T x T` map (T = token grid side ×
 * `upsample`, 64 at S = 224 with 14-pixel patches), `'full'` = that map resized bilinearly to the
 * output size (the slice size S).
 */
export type SegResolution = 'block' | 'full';

/** Throws (through `fail`) unless `value` is a {@link SegResolution}. */
export function checkSegResolution(value: unknown, fail: (message: string) => never): void {
  if (value !== 'block' && value !== 'full')
    fail(`segResolution must be 'block' or 'full', got '${String(value)}'`);
}

/** Call options of {@link AuxSegHead} (and of the layers that pass them on). */
export interface SegResolutionKwargs {
  /** Overrides the layer's {@link AuxSegHeadArgs.resolution} for this call. */
  segResolution?: SegResolution;
}

/** Configuration of {@link AuxSegHead}. */
export interface AuxSegHeadArgs extends MrnLayerArgs {
  /** Number of segmentation classes including background (class 0). Required, at least 2. */
  numClasses: number;
  /** Width of the hidden layer of the per-token MLP. Default 64. */
  hiddenDim?: number;
  /**
   * Sub-patch resolution: each token predicts an `upsample × upsample` block of logits (pixel
   * shuffle), which is then resized bilinearly to the output size. Default 4.
   */
  upsample?: number;
  /** Side of the output logit maps, in pixels. Default: token grid side × `patchSize` (the input slice size). */
  outputSize?: number | null;
  /** Backbone patch size in pixels, used when `outputSize` is not given. Default 14 (DINOv2). */
  patchSize?: number;
  /** Resolution of the logit maps (see {@link SegResolution}). Default `'full'`. */
  resolution?: SegResolution;
}

/**
 * Auxiliary segmentation head: a per-token MLP (layer norm, dense, GELU, dense) predicts an
 * `upsample × upsample` block of class logits for each patch token; the blocks are rearranged into a
 * map (pixel shuffle, a 4-D transpose) and resized bilinearly to the slice size. No convolutions, so
 * it trains on the wasm backend.
 *
 * Input: patch tokens `[B, D, N, E]` with N a square number (an `g × g` grid, row-major).
 * Outputs (in this order): segmentation logits `[B, D, S, S, numClasses]` (`[B, D, T, T, numClasses]`,
 * T = g × upsample, with resolution `'block'`: no resize) and the per-token foreground
 * probability `[B, D, N]` (1 − mean background probability over the token's block).
 */
export class AuxSegHead extends MrnLayer {
  /** tfjs serialisation name. */
  static readonly className = 'AuxSegHead';
  readonly numClasses: number;
  readonly hiddenDim: number;
  readonly upsample: number;
  readonly outputSize: number | null;
  readonly patchSize: number;
  readonly resolution: SegResolution;
  private norm?: LayerNormBlock;
  private fc1?: DenseBlock;
  private fc2?: DenseBlock;
  private inputDim = 0;

  constructor(args: AuxSegHeadArgs) {
    super(args);
    this.numClasses = args.numClasses;
    this.hiddenDim = args.hiddenDim ?? DEFAULTS.segHiddenDim;
    this.upsample = args.upsample ?? DEFAULTS.segUpsample;
    this.outputSize = args.outputSize ?? null;
    this.patchSize = args.patchSize ?? DEFAULTS.patchSize;
    this.resolution = args.resolution ?? 'full';
    checkSegResolution(this.resolution, (m) => this.fail(m));
    if (!Number.isInteger(this.numClasses) || this.numClasses < 2) {
      this.fail(`numClasses must be an integer >= 2 (background + nuclei), got ${args.numClasses}`);
    }
    this.assertPositiveInteger({
      hiddenDim: this.hiddenDim,
      upsample: this.upsample,
      patchSize: this.patchSize,
    });
    if (this.outputSize !== null) this.assertPositiveInteger({ outputSize: this.outputSize });
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = shapeList(inputShape)[0]!;
    const e = shape[shape.length - 1];
    if (typeof e !== 'number') this.fail(`the token width (last axis) must be known to build`);
    this.inputDim = e;
    const p = this.params('mlp');
    this.norm = new LayerNormBlock(scopedParams(p, 'norm'), e);
    this.fc1 = new DenseBlock(scopedParams(p, 'fc1'), e, this.hiddenDim);
    this.fc2 = new DenseBlock(
      scopedParams(p, 'fc2'),
      this.hiddenDim,
      this.upsample * this.upsample * this.numClasses,
    );
    this.built = true;
  }

  /** Grid side and output size for `n` tokens at `resolution`. */
  private geometry(n: number, resolution: SegResolution): { grid: number; size: number } {
    const grid = Math.round(Math.sqrt(n));
    if (grid * grid !== n) this.fail(`the patch tokens must form a square grid, got N = ${n}`);
    const size = resolution === 'block' ? grid * this.upsample : (this.outputSize ?? grid * this.patchSize);
    return { grid, size };
  }

  /** Side T of the native (block) logit map for `n` patch tokens: grid side × `upsample`. */
  blockSize(n: number): number {
    return this.geometry(n, 'block').size;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape[] {
    const [b, d, n] = shapeList(inputShape)[0]!;
    const size = typeof n === 'number' ? this.geometry(n, this.resolution).size : null;
    return [
      [b!, d!, size, size, this.numClasses],
      [b!, d!, n!],
    ];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs?: Kwargs): tf.Tensor[] {
    const resolution = (kwargs as SegResolutionKwargs | undefined)?.segResolution ?? this.resolution;
    checkSegResolution(resolution, (m) => this.fail(m));
    const x = this.singleInput(inputs, 'patch tokens') as tf.Tensor4D;
    this.expectShape('patch tokens', x, [null, null, null, this.inputDim]);
    return tf.tidy(() => {
      const [b, d, n] = x.shape;
      const { grid, size } = this.geometry(n, resolution);
      const r = this.upsample;
      const k = this.numClasses;
      const flat = tf.reshape(x, [b * d * n, this.inputDim]);
      const blocks = this.fc2!.apply(gelu(this.fc1!.apply(this.norm!.apply(flat)))); // [BDN, r*r*K]
      // Foreground prior: 1 - mean background probability over the token's r×r block.
      const probs = tf.softmax(tf.reshape(blocks, [b * d * n, r * r, k]), -1);
      const background = tf.mean(tf.slice(probs, [0, 0, 0], [-1, -1, 1]), [1, 2]);
      const foreground = tf.reshape(tf.sub(1, background), [b, d, n]);
      // Pixel shuffle with 4-D ops: (bd, gy, gx, ry, rx, k) -> (bd, gy, ry, gx, rx, k).
      const rows = tf.reshape(blocks, [b * d * grid, grid, r, r * k]);
      const map = tf.reshape(tf.transpose(rows, [0, 2, 1, 3]), [b * d, grid * r, grid * r, k]);
      const resized = grid * r === size ? map : resizeBilinearHalfPixel(map as tf.Tensor4D, [size, size]);
      return [tf.reshape(resized, [b, d, size, size, k]), foreground];
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      numClasses: this.numClasses,
      hiddenDim: this.hiddenDim,
      upsample: this.upsample,
      outputSize: this.outputSize,
      patchSize: this.patchSize,
      resolution: this.resolution,
    };
  }
}
tf.serialization.registerClass(AuxSegHead);
