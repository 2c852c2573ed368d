/**
 * The RES module (ROI feature Extraction and Segmentation) of MRN: one branch per ROI that turns the
 * backbone features of an ROI's slices into one ROI token. The paper names its two fusion stages (FFA
 * within a slice, SFA across slices) without publishing their insides; the defaults here are ours and
 * documented in `docs/design.md` and the README.
 */

import * as tf from '@tensorflow/tfjs';
import type { Kwargs } from '@tensorflow/tfjs-layers/dist/types.js';
import { AuxSegHead, type SegResolution, type SegResolutionKwargs } from './aux-seg-head.js';
import {
  AttentionPoolBlock,
  DenseBlock,
  LayerNormBlock,
  normalisedDense,
  paddingBias,
  scopedParams,
  TransformerBlock,
} from './blocks.js';
import { MrnLayer, shapeList, type MrnLayerArgs } from './mrn-layer.js';
import { MRN_PRESETS } from './mrn-presets.js';

/** Defaults of this layer's arguments: the `'mrn-paper'` architecture. */
const DEFAULTS = MRN_PRESETS['mrn-paper'];

/** Configuration of {@link RoiBranch}. */
export interface RoiBranchArgs extends MrnLayerArgs {
  /** Segmentation classes of this ROI's auxiliary head, background included. Required, at least 2. */
  numSegClasses: number;
  /** Width E of the branch's tokens and of the ROI token. Default 256. */
  embedDim?: number;
  /** Backbone feature width. Default: read from the input shape when the layer is built. */
  inputDim?: number | null;
  /** Attention heads of the SFA transformer (must divide `embedDim`). Default 4. */
  heads?: number;
  /** Transformer blocks in the SFA stage (0 = attention pooling only). Default 2. */
  sfaDepth?: number;
  /** Hidden width of the transformer MLPs as a multiple of `embedDim`. Default 2. */
  mlpRatio?: number;
  /** Most slices D the learned slice-position embedding covers. Default 32. */
  maxSlices?: number;
  /** Key width of the FFA and SFA attention pooling. Default: `embedDim`. */
  poolKeyDim?: number | null;
  /** Use the aux head's foreground probability as a log-prior on the FFA pooling. Default true. */
  segPrior?: boolean;
  /** Hidden width of the aux head's MLP. Default 64. */
  segHiddenDim?: number;
  /** Sub-patch resolution of the aux head (see {@link AuxSegHeadArgs.upsample}). Default 4. */
  segUpsample?: number;
  /** Side of the aux head's full-resolution logit maps. Default: grid side × `patchSize` (the slice size). */
  outputSize?: number | null;
  /**
   * Resolution of the segmentation logits: `'block'` (the aux head's native `T x T` map) or `'full'`
   * (resized to `outputSize`). Default `'full'`; a call may override it with `{ segResolution }`.
   */
  segResolution?: SegResolution;
  /** Backbone patch size in pixels. Default 14. */
  patchSize?: number;
}

/**
 * One ROI branch (RES module).
 *
 * 1. Token projection: the backbone's patch tokens are layer-normalised and projected to `embedDim`.
 * 2. Auxiliary segmentation ({@link AuxSegHead}) decodes the projected tokens into nucleus logits;
 *    its loss steers the projection toward the nuclei.
 * 3. FFA (within-slice fusion): attention pooling of a slice's projected patch tokens with a learned
 *    query, plus `prior · log(p_fg)` on the scores (p_fg = the aux head's per-token foreground
 *    probability, `prior` a learned scalar starting at 1), so tokens on nuclei weigh more. The pooled
 *    vector plus a projection of the slice's CLS token is the slice token.
 * 4. SFA (across-slice fusion): slice tokens plus a learned slice-position embedding go through
 *    `sfaDepth` pre-norm transformer blocks with padding slices masked out as keys, then a final layer
 *    norm and attention pooling (padding weight exactly 0) into the ROI token. Padding slices
 *    therefore never change the ROI token.
 *
 * Inputs (in order): patch tokens `[B, D, N, Ein]`, CLS tokens `[B, D, Ein]`, validity `[B, D]`
 * (1 real, 0 padding). Outputs (in order): ROI token `[B, E]`, segmentation logits
 * `[B, D, S, S, numSegClasses]` (`[B, D, T, T, numSegClasses]` at `segResolution` `'block'`), slice
 * attention `[B, D]`, patch attention `[B, D, N]`. Call kwargs: {@link SegResolutionKwargs}.
 */
export class RoiBranch extends MrnLayer {
  /** tfjs serialisation name. */
  static readonly className = 'RoiBranch';
  readonly numSegClasses: number;
  readonly embedDim: number;
  readonly heads: number;
  readonly sfaDepth: number;
  readonly mlpRatio: number;
  readonly maxSlices: number;
  readonly poolKeyDim: number;
  readonly segPrior: boolean;
  readonly patchSize: number;
  /** The nested auxiliary segmentation head (its weights are this layer's, under `aux.`). */
  readonly auxHead: AuxSegHead;
  private inputDim: number | null;
  private blocks?: {
    tokenNorm: LayerNormBlock;
    tokenProj: DenseBlock;
    ffaPool: AttentionPoolBlock;
    priorScale: tf.LayerVariable;
    clsNorm: LayerNormBlock;
    clsProj: DenseBlock;
    slicePos: tf.LayerVariable;
    sfa: TransformerBlock[];
    sfaNorm: LayerNormBlock;
    sfaPool: AttentionPoolBlock;
  };

  constructor(args: RoiBranchArgs) {
    super(args);
    this.numSegClasses = args.numSegClasses;
    this.embedDim = args.embedDim ?? DEFAULTS.embedDim;
    this.inputDim = args.inputDim ?? null;
    this.heads = args.heads ?? DEFAULTS.heads;
    this.sfaDepth = args.sfaDepth ?? DEFAULTS.sfaDepth;
    this.mlpRatio = args.mlpRatio ?? DEFAULTS.mlpRatio;
    this.maxSlices = args.maxSlices ?? DEFAULTS.maxSlices;
    this.poolKeyDim = args.poolKeyDim ?? this.embedDim;
    this.segPrior = args.segPrior ?? DEFAULTS.segPrior;
    this.patchSize = args.patchSize ?? DEFAULTS.patchSize;
    this.assertPositiveInteger({
      embedDim: this.embedDim,
      heads: this.heads,
      maxSlices: this.maxSlices,
      poolKeyDim: this.poolKeyDim,
    });
    this.assertPositiveInteger({ sfaDepth: this.sfaDepth }, { allowZero: true });
    if (this.embedDim % this.heads !== 0) {
      this.fail(`heads (${this.heads}) must divide embedDim (${this.embedDim})`);
    }
    if (!(this.mlpRatio > 0)) this.fail(`mlpRatio must be positive, got ${this.mlpRatio}`);
    this.auxHead = this.adopt(
      'aux',
      new AuxSegHead({
        name: `${this.name}_aux`,
        numClasses: args.numSegClasses,
        hiddenDim: args.segHiddenDim,
        upsample: args.segUpsample,
        outputSize: args.outputSize,
        patchSize: this.patchSize,
        resolution: args.segResolution,
        seed: this.seed + 1,
      }),
    );
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shapes = shapeList(inputShape);
    const inDim = this.inputDim ?? shapes[0]![3];
    if (typeof inDim !== 'number') this.fail('the backbone feature width must be known to build');
    this.inputDim = inDim;
    const e = this.embedDim;
    const p = (prefix: string) => this.params(prefix);
    this.blocks = {
      tokenNorm: new LayerNormBlock(p('tokens.norm'), inDim),
      tokenProj: new DenseBlock(p('tokens.proj'), inDim, e),
      ffaPool: new AttentionPoolBlock(p('ffa.pool'), e, this.poolKeyDim, e),
      priorScale: this.param('ffa.priorScale', [1], { constant: 1 }),
      clsNorm: new LayerNormBlock(p('ffa.cls.norm'), inDim),
      clsProj: new DenseBlock(p('ffa.cls.proj'), inDim, e),
      slicePos: this.param('sfa.slicePos', [this.maxSlices, e], { normal: 0.02 }),
      sfa: Array.from(
        { length: this.sfaDepth },
        (_, i) => new TransformerBlock(scopedParams(p('sfa'), `block${i}`), e, this.heads, this.mlpRatio),
      ),
      sfaNorm: new LayerNormBlock(p('sfa.norm'), e),
      sfaPool: new AttentionPoolBlock(p('sfa.pool'), e, this.poolKeyDim, e),
    };
    const [b, d, n] = shapes[0]!;
    this.auxHead.ensureBuilt([b!, d!, n!, e]);
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape[] {
    const [b, d, n] = shapeList(inputShape)[0]!;
    const [seg] = this.auxHead.computeOutputShape([b!, d!, n!, this.embedDim]);
    return [[b!, this.embedDim], seg!, [b!, d!], [b!, d!, n!]];
  }

  /** Checks the three inputs' ranks and that B, D and widths agree; returns them typed. */
  private checkInputs(inputs: tf.Tensor | tf.Tensor[]): [tf.Tensor4D, tf.Tensor3D, tf.Tensor2D] {
    if (!Array.isArray(inputs) || inputs.length !== 3) {
      this.fail('expects three inputs: [patch [B, D, N, E], cls [B, D, E], valid [B, D]]');
    }
    const [patch, cls, valid] = inputs;
    const e = this.inputDim;
    this.expectShape('patch tokens', patch, [null, null, null, e]);
    const [b, d] = patch!.shape;
    this.expectShape('CLS tokens', cls, [b, d, e]);
    this.expectShape('valid flags', valid, [b, d]);
    if (d > this.maxSlices) {
      this.fail(`D = ${d} slices exceeds maxSlices = ${this.maxSlices}`, { d, maxSlices: this.maxSlices });
    }
    return [patch as tf.Tensor4D, cls as tf.Tensor3D, valid as tf.Tensor2D];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs?: Kwargs): tf.Tensor[] {
    const [patch, cls, valid] = this.checkInputs(inputs);
    const segResolution = (kwargs as SegResolutionKwargs | undefined)?.segResolution;
    return tf.tidy(() => {
      const k = this.blocks!;
      const [b, d, n] = patch.shape;
      const e = this.embedDim;
      const tokens = normalisedDense(patch, k.tokenNorm, k.tokenProj) as tf.Tensor4D; // [B, D, N, E]
      const [segLogits, foreground] = this.auxHead.call(tokens, { segResolution } as Kwargs);
      // FFA: attention pooling of each slice's tokens, the nucleus probability as a log-prior.
      const prior = this.segPrior
        ? (tf.mul(
            tf.log(tf.add(tf.reshape(foreground!, [b * d, n]), 1e-6)),
            k.priorScale.read(),
          ) as tf.Tensor2D)
        : null;
      const ffa = k.ffaPool.apply(tf.reshape(tokens, [b * d, n, e]) as tf.Tensor3D, prior);
      const sliceTokens = tf.add(
        ffa.pooled,
        normalisedDense(tf.reshape(cls, [b * d, -1]), k.clsNorm, k.clsProj),
      );
      // SFA: transformer over the slices (padding masked as keys), then attention pooling.
      const pos = tf.slice(k.slicePos.read(), [0, 0], [d, e]);
      let x = tf.add(tf.reshape(sliceTokens, [b, d, e]), pos) as tf.Tensor3D;
      const bias = paddingBias(valid);
      for (const block of k.sfa) x = block.apply(x, bias);
      const sfa = k.sfaPool.apply(k.sfaNorm.apply(x) as tf.Tensor3D, bias);
      return [sfa.pooled, segLogits!, sfa.weights, tf.reshape(ffa.weights, [b, d, n])];
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      numSegClasses: this.numSegClasses,
      embedDim: this.embedDim,
      inputDim: this.inputDim,
      heads: this.heads,
      sfaDepth: this.sfaDepth,
      mlpRatio: this.mlpRatio,
      maxSlices: this.maxSlices,
      poolKeyDim: this.poolKeyDim,
      segPrior: this.segPrior,
      segHiddenDim: this.auxHead.hiddenDim,
      segUpsample: this.auxHead.upsample,
      outputSize: this.auxHead.outputSize,
      segResolution: this.auxHead.resolution,
      patchSize: this.patchSize,
    };
  }
}
tf.serialization.registerClass(RoiBranch);
