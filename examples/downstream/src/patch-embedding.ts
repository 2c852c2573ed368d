/**
 * The lab's own tfjs layer: a linear patch embedding (a `p x p` convolution with stride `p`) that turns
 * `[M, H, W, C]` images into `[M, (H/p)(W/p), E]` patch tokens. Registered with tfjs serialisation, so
 * a model that contains it saves and loads like any tfjs model.
 */

import * as tf from '@tensorflow/tfjs';

/** Arguments of {@link PatchEmbedding}. */
export interface PatchEmbeddingArgs {
  /** Patch size p in pixels. */
  patchSize: number;
  /** Token width E. */
  embedDim: number;
  /** Seed of the kernel initialiser. Default 0. */
  seed?: number;
  /** Layer name. Default: tfjs's. */
  name?: string;
}

/** A linear patch embedding layer (conv p x p, stride p, plus bias), flattened to tokens. */
export class PatchEmbedding extends tf.layers.Layer {
  static className = 'LabPatchEmbedding';
  readonly patchSize: number;
  readonly embedDim: number;
  readonly seed: number;
  private kernel?: tf.LayerVariable;
  private bias?: tf.LayerVariable;

  constructor(args: PatchEmbeddingArgs) {
    super({ name: args.name });
    this.patchSize = args.patchSize;
    this.embedDim = args.embedDim;
    this.seed = args.seed ?? 0;
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const channels = shape[shape.length - 1] as number;
    const p = this.patchSize;
    this.kernel = this.addWeight(
      'kernel',
      [p, p, channels, this.embedDim],
      'float32',
      tf.initializers.glorotNormal({ seed: this.seed }),
    );
    this.bias = this.addWeight('bias', [this.embedDim], 'float32', tf.initializers.zeros());
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const [m, h, w] = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const p = this.patchSize;
    const tokens = h == null || w == null ? null : Math.floor(h / p) * Math.floor(w / p);
    return [m ?? null, tokens, this.embedDim];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
      const y = tf.add(
        tf.conv2d(x, this.kernel!.read() as tf.Tensor4D, this.patchSize, 'valid'),
        this.bias!.read(),
      );
      return tf.reshape(y, [x.shape[0], -1, this.embedDim]);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), patchSize: this.patchSize, embedDim: this.embedDim, seed: this.seed };
  }
}

tf.serialization.registerClass(PatchEmbedding);
