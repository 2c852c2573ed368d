/**
 * What a slice-encoder backbone is: the {@link SliceBackbone} contract (features of normalised RGB
 * slices, sync or async), the other things mrn accepts as one (tfjs models, plain functions), and
 * {@link toSliceBackbone}, which wraps them in the contract.
 */

import * as tf from '@tensorflow/tfjs';
import { MrnError } from '../errors.js';

/** Per-channel input normalisation of a backbone: `(x - mean) / std` on RGB channels. */
export interface InputNormalization {
  /** Per-channel mean (R, G, B). */
  mean: [number, number, number];
  /** Per-channel standard deviation (R, G, B). */
  std: [number, number, number];
}

/** What a backbone returns for a batch of M images. */
export interface SliceFeatures {
  /** `[M, E]` CLS token per image. */
  cls: tf.Tensor2D;
  /** `[M, N, E]` patch tokens per image (row-major `g × g` grid). */
  patch: tf.Tensor3D;
}

/**
 * The contract a 2D backbone fulfils for {@link SliceEncoder}. mrn's DINOv2 `VisionTransformer`
 * (synchronous, in-graph, trainable) and the ONNX engine (asynchronous, inference only) implement it.
 */
export interface SliceBackbone {
  /** Width E of the CLS and patch tokens. */
  readonly embedDim: number;
  /** Patch size in pixels (14 for DINOv2). */
  readonly patchSize: number;
  /** Normalisation the backbone expects on `[0, 1]` RGB input. Default {@link IMAGENET_NORMALIZATION}. */
  readonly inputNormalization?: InputNormalization;
  /**
   * Features of normalised RGB images `[M, H, W, 3]`. A synchronous result lets the backbone run
   * inside a gradient tape (fine-tuning); a promise serves asynchronous engines through `encode()`.
   */
  forwardFeatures(
    pixels: tf.Tensor4D,
    options?: { training?: boolean },
  ): SliceFeatures | Promise<SliceFeatures>;
  /** The backbone's tfjs weights, when it has some (listed by summaries, frozen or fine-tuned). */
  readonly weights?: tf.LayerVariable[];
}

/** A plain function backbone: normalised `[M, H, W, 3]` to `{ cls, patch }`, sync or async. */
export type SliceBackboneFunction = (pixels: tf.Tensor4D) => SliceFeatures | Promise<SliceFeatures>;

/** Anything {@link SliceEncoder} accepts as a backbone. */
export type SliceBackboneLike = SliceBackbone | tf.LayersModel | tf.GraphModel | SliceBackboneFunction;

/** Facts about a backbone that a model or function cannot tell by itself. */
export interface BackboneInfo {
  /** Token width E. Default: read from the backbone (its `embedDim` or its first output's shape). */
  embedDim?: number;
  /** Patch size. Default: the backbone's `patchSize`; required for models and functions. */
  patchSize?: number;
  /** Input normalisation. Default: the backbone's, else {@link IMAGENET_NORMALIZATION}. */
  inputNormalization?: InputNormalization;
}

function isSliceBackbone(x: unknown): x is SliceBackbone {
  return typeof x === 'object' && x !== null && typeof (x as SliceBackbone).forwardFeatures === 'function';
}

/**
 * Wraps any {@link SliceBackboneLike} in the {@link SliceBackbone} contract. tfjs `LayersModel`s and
 * `GraphModel`s must output `[cls, patch]` in that order.
 *
 * @throws MrnError `E_CONFIG` when the token width or patch size cannot be determined.
 */
export function toSliceBackbone(like: SliceBackboneLike, info: BackboneInfo = {}): SliceBackbone {
  const need = (what: string, v: number | undefined): number => {
    if (v === undefined || !Number.isInteger(v) || v < 1) {
      throw new MrnError(
        'E_CONFIG',
        `toSliceBackbone: cannot tell the backbone's ${what}; pass it in BackboneInfo`,
      );
    }
    return v;
  };
  const pair = (out: tf.Tensor | tf.Tensor[] | tf.NamedTensorMap): SliceFeatures => {
    const list = Array.isArray(out) ? out : out instanceof tf.Tensor ? [out] : Object.values(out);
    if (list.length < 2 || list[0]!.rank !== 2 || list[1]!.rank !== 3) {
      throw new MrnError(
        'E_INVALID_ARGUMENT',
        `backbone model must output [cls [M, E], patch [M, N, E]]; got ranks [${list.map((t) => t.rank).join(', ')}]`,
      );
    }
    return { cls: list[0] as tf.Tensor2D, patch: list[1] as tf.Tensor3D };
  };
  if (isSliceBackbone(like)) {
    if (
      info.embedDim === undefined &&
      info.patchSize === undefined &&
      info.inputNormalization === undefined
    ) {
      return like;
    }
    return {
      embedDim: need('embedDim', info.embedDim ?? like.embedDim),
      patchSize: need('patchSize', info.patchSize ?? like.patchSize),
      inputNormalization: info.inputNormalization ?? like.inputNormalization,
      forwardFeatures: (x, o) => like.forwardFeatures(x, o),
      get weights() {
        return like.weights;
      },
    };
  }
  if (like instanceof tf.LayersModel) {
    const model = like;
    const e = info.embedDim ?? (model.outputs[0]?.shape[1] as number | undefined);
    return {
      embedDim: need('embedDim', e ?? undefined),
      patchSize: need('patchSize', info.patchSize),
      inputNormalization: info.inputNormalization,
      forwardFeatures: (x, o) => pair(model.apply(x, { training: o?.training ?? false }) as tf.Tensor[]),
      get weights() {
        return model.weights;
      },
    };
  }
  if (like instanceof tf.GraphModel) {
    const model = like;
    const e = info.embedDim ?? (model.outputs[0]?.shape?.[1] as number | undefined);
    return {
      embedDim: need('embedDim', e && e > 0 ? e : undefined),
      patchSize: need('patchSize', info.patchSize),
      inputNormalization: info.inputNormalization,
      forwardFeatures: (x) => pair(model.execute(x)),
    };
  }
  if (typeof like === 'function') {
    return {
      embedDim: need('embedDim', info.embedDim),
      patchSize: need('patchSize', info.patchSize),
      inputNormalization: info.inputNormalization,
      forwardFeatures: (x) => like(x),
    };
  }
  throw new MrnError(
    'E_INVALID_ARGUMENT',
    'toSliceBackbone: not a backbone (object with forwardFeatures, tfjs model or function)',
  );
}
