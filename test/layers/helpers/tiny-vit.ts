/**
 * A tiny random ViT-like backbone for tests: patch embedding (dense on flattened patches), CLS token,
 * learned position embedding, one transformer block, final layer norm. It fulfils the SliceBackbone
 * contract synchronously, like the DINOv2 VisionTransformer does.
 */

import * as tf from '@tensorflow/tfjs';
import { DenseBlock, LayerNormBlock, scopedParams, TransformerBlock } from '../../../src/layers/blocks.js';
import { MrnLayer } from '../../../src/layers/mrn-layer.js';
import type { InputNormalization, SliceFeatures } from '../../../src/layers/slice-encoder.js';

export interface TinyVitArgs {
  imageSize: number;
  patchSize: number;
  embedDim: number;
  heads?: number;
  seed?: number;
}

export class TinyVit extends MrnLayer {
  static readonly className = 'TinyVit';
  readonly imageSize: number;
  readonly patchSize: number;
  readonly embedDim: number;
  readonly heads: number;
  readonly inputNormalization: InputNormalization = { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] };
  private parts!: {
    embed: DenseBlock;
    cls: tf.LayerVariable;
    pos: tf.LayerVariable;
    block: TransformerBlock;
    norm: LayerNormBlock;
  };

  constructor(args: TinyVitArgs) {
    super({ seed: args.seed ?? 7, name: 'tiny_vit' });
    this.imageSize = args.imageSize;
    this.patchSize = args.patchSize;
    this.embedDim = args.embedDim;
    this.heads = args.heads ?? 2;
    this.ensureBuilt([null, args.imageSize, args.imageSize, 3]);
  }

  override build(): void {
    const p = this.patchSize;
    const g = this.imageSize / p;
    const e = this.embedDim;
    const f = (prefix: string) => this.params(prefix);
    this.parts = {
      embed: new DenseBlock(f('embed'), p * p * 3, e),
      cls: this.param('cls', [1, 1, e], { normal: 0.5 }),
      pos: this.param('pos', [1, 1 + g * g, e], { normal: 0.5 }),
      block: new TransformerBlock(scopedParams(f('blocks'), '0'), e, this.heads, 2),
      norm: new LayerNormBlock(f('norm'), e),
    };
    this.built = true;
  }

  forwardFeatures(pixels: tf.Tensor4D): SliceFeatures {
    return tf.tidy(() => {
      const [m, s] = pixels.shape;
      const p = this.patchSize;
      const g = s / p;
      const e = this.embedDim;
      const rows = tf.reshape(pixels, [m * g, p, g, p * 3]);
      const patches = tf.reshape(tf.transpose(rows, [0, 2, 1, 3]), [m, g * g, p * p * 3]);
      const tokens = this.parts.embed.apply(patches);
      const cls = tf.tile(this.parts.cls.read(), [m, 1, 1]);
      let x = tf.add(tf.concat([cls, tokens], 1), this.parts.pos.read()) as tf.Tensor3D;
      x = this.parts.norm.apply(this.parts.block.apply(x, null)) as tf.Tensor3D;
      return {
        cls: tf.reshape(tf.slice(x, [0, 0, 0], [-1, 1, -1]), [m, e]) as tf.Tensor2D,
        patch: tf.slice(x, [0, 1, 0], [-1, g * g, -1]) as tf.Tensor3D,
      };
    });
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor[] {
    const f = this.forwardFeatures((Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D);
    return [f.cls, f.patch];
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      imageSize: this.imageSize,
      patchSize: this.patchSize,
      embedDim: this.embedDim,
      heads: this.heads,
      seed: this.seed,
    };
  }
}
tf.serialization.registerClass(TinyVit);
