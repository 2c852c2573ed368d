/**
 * The patient fusion head of MRN: fuses the ROI tokens into one patient embedding, classifies it, and
 * projects each ROI token for the multi-ROI supervised contrastive loss.
 */

import * as tf from '@tensorflow/tfjs';
import type { Kwargs } from '@tensorflow/tfjs-layers/dist/types.js';
import {
  AttentionPoolBlock,
  DenseBlock,
  LayerNormBlock,
  MlpBlock,
  scopedParams,
  TransformerBlock,
} from './blocks.js';
import { MrnLayer, shapeList, type MrnLayerArgs } from './mrn-layer.js';
import { MRN_PRESETS } from './mrn-presets.js';

/** Defaults of this layer's arguments: the `'mrn-paper'` architecture. */
const DEFAULTS = MRN_PRESETS['mrn-paper'];

/** How {@link PatientFusionHead} fuses ROI tokens. */
export type FusionMode = 'transformer' | 'concat-mlp';

/** Configuration of {@link PatientFusionHead}. */
export interface PatientFusionHeadArgs extends MrnLayerArgs {
  /** Number of ROIs R (the length of the token axis). Required. */
  numRois: number;
  /** Width E of the ROI tokens. Default: read from the input shape when built. */
  embedDim?: number | null;
  /** Output classes K. Default 2 (HC, PD). */
  numClasses?: number;
  /**
   * `'transformer'`: ROI tokens plus learned ROI-type embeddings go through `depth` transformer blocks
   * and attention pooling (which also yields ROI attention weights). `'concat-mlp'`: the tokens are
   * concatenated (their position tells the ROI) and mapped by a two-layer MLP. Default `'transformer'`.
   */
  fusion?: FusionMode;
  /** Transformer blocks in `'transformer'` mode. Default 1. */
  depth?: number;
  /** Attention heads of the transformer (must divide E). Default 4. */
  heads?: number;
  /** Hidden width of MLPs as a multiple of E. Default 2. */
  mlpRatio?: number;
  /** Width P of the contrastive projections. Default 128. */
  projectionDim?: number;
  /** Hidden width of each ROI's projection MLP. Default: E. */
  projectionHiddenDim?: number | null;
}

/**
 * Patient fusion head.
 *
 * Input: ROI tokens `[B, R, E]`. Outputs (in this order): logits `[B, K]`, patient embedding `[B, E]`,
 * projections `[B, R, P]` (one MLP per ROI: dense, ReLU, dense; not normalised; they feed SupCon), and
 * in `'transformer'` mode the ROI attention weights `[B, R]` of the pooling.
 */
export class PatientFusionHead extends MrnLayer {
  /** tfjs serialisation name. */
  static readonly className = 'PatientFusionHead';
  readonly numRois: number;
  readonly numClasses: number;
  readonly fusion: FusionMode;
  readonly depth: number;
  readonly heads: number;
  readonly mlpRatio: number;
  readonly projectionDim: number;
  private embedDim: number | null;
  private projectionHiddenDim: number | null;
  private blocks?: {
    roiType?: tf.LayerVariable;
    transformer: TransformerBlock[];
    pool?: AttentionPoolBlock;
    mlp?: MlpBlock;
    norm: LayerNormBlock;
    classifier: DenseBlock;
    projections: { fc1: DenseBlock; fc2: DenseBlock }[];
  };

  constructor(args: PatientFusionHeadArgs) {
    super(args);
    this.numRois = args.numRois;
    this.embedDim = args.embedDim ?? null;
    this.numClasses = args.numClasses ?? DEFAULTS.numClasses;
    this.fusion = args.fusion ?? DEFAULTS.fusion;
    this.depth = args.depth ?? DEFAULTS.fusionDepth;
    this.heads = args.heads ?? DEFAULTS.heads;
    this.mlpRatio = args.mlpRatio ?? DEFAULTS.mlpRatio;
    this.projectionDim = args.projectionDim ?? DEFAULTS.projectionDim;
    this.projectionHiddenDim = args.projectionHiddenDim ?? null;
    this.assertPositiveInteger({
      numRois: this.numRois,
      heads: this.heads,
      projectionDim: this.projectionDim,
    });
    if (!Number.isInteger(this.numClasses) || this.numClasses < 2) {
      this.fail(`numClasses must be an integer >= 2, got ${this.numClasses}`);
    }
    if (this.fusion !== 'transformer' && this.fusion !== 'concat-mlp') {
      this.fail(`fusion must be 'transformer' or 'concat-mlp', got '${String(this.fusion)}'`);
    }
    this.assertPositiveInteger({ depth: this.depth }, { allowZero: true });
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = shapeList(inputShape)[0]!;
    const e = this.embedDim ?? shape[2];
    if (typeof e !== 'number') this.fail('the ROI token width must be known to build');
    if (e % this.heads !== 0 && this.fusion === 'transformer') {
      this.fail(`heads (${this.heads}) must divide the token width (${e})`);
    }
    this.embedDim = e;
    const r = this.numRois;
    const hidden = Math.max(1, Math.round(e * this.mlpRatio));
    const projHidden = this.projectionHiddenDim ?? e;
    this.projectionHiddenDim = projHidden;
    const p = (prefix: string) => this.params(prefix);
    const transformer = this.fusion === 'transformer';
    this.blocks = {
      roiType: transformer ? this.param('fusion.roiType', [r, e], { normal: 0.02 }) : undefined,
      transformer: transformer
        ? Array.from(
            { length: this.depth },
            (_, i) =>
              new TransformerBlock(scopedParams(p('fusion'), `block${i}`), e, this.heads, this.mlpRatio),
          )
        : [],
      pool: transformer ? new AttentionPoolBlock(p('fusion.pool'), e, e, e) : undefined,
      mlp: transformer ? undefined : new MlpBlock(p('fusion.mlp'), r * e, hidden, e),
      norm: new LayerNormBlock(p('head.norm'), e),
      classifier: new DenseBlock(p('head.classifier'), e, this.numClasses),
      projections: Array.from({ length: r }, (_, i) => ({
        fc1: new DenseBlock(p(`projection${i}.fc1`), e, projHidden),
        fc2: new DenseBlock(p(`projection${i}.fc2`), projHidden, this.projectionDim),
      })),
    };
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape[] {
    const [b, r, e] = shapeList(inputShape)[0]!;
    const out: tf.Shape[] = [
      [b!, this.numClasses],
      [b!, this.embedDim ?? e!],
      [b!, r!, this.projectionDim],
    ];
    if (this.fusion === 'transformer') out.push([b!, r!]);
    return out;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs?: Kwargs): tf.Tensor[] {
    const tokens = this.singleInput(inputs, 'ROI tokens') as tf.Tensor3D;
    this.expectShape('ROI tokens', tokens, [null, this.numRois, this.embedDim]);
    return tf.tidy(() => {
      const k = this.blocks!;
      const [b, r, e] = tokens.shape;
      let patient: tf.Tensor2D;
      let roiAttention: tf.Tensor2D | null = null;
      if (this.fusion === 'transformer') {
        let x = tf.add(tokens, k.roiType!.read()) as tf.Tensor3D;
        for (const block of k.transformer) x = block.apply(x, null);
        const pooled = k.pool!.apply(x, null);
        patient = pooled.pooled;
        roiAttention = pooled.weights;
      } else {
        patient = k.mlp!.apply(tf.reshape(tokens, [b, r * e])) as tf.Tensor2D;
      }
      const logits = k.classifier.apply(k.norm.apply(patient));
      // One slice per ROI rather than tf.unstack: tfjs's Unpack gradient calls stack() on its upstream
      // gradient, which it receives as a bare tensor (not an array) when there is a single ROI.
      const perRoi = Array.from({ length: r }, (_, i) =>
        tf.reshape(tf.slice(tokens, [0, i, 0], [b, 1, e]), [b, e]),
      );
      const projections = tf.stack(
        perRoi.map((t, i) => k.projections[i]!.fc2.apply(tf.relu(k.projections[i]!.fc1.apply(t)))),
        1,
      );
      const out = [logits, patient, projections];
      if (roiAttention) out.push(roiAttention);
      return out;
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      numRois: this.numRois,
      embedDim: this.embedDim,
      numClasses: this.numClasses,
      fusion: this.fusion,
      depth: this.depth,
      heads: this.heads,
      mlpRatio: this.mlpRatio,
      projectionDim: this.projectionDim,
      projectionHiddenDim: this.projectionHiddenDim,
    };
  }
}
tf.serialization.registerClass(PatientFusionHead);
