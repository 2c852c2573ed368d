/**
 * Building blocks the mrn layers are made of: dense, layer norm, MLP, pre-norm transformer block and
 * attention pooling. A block is not a tfjs layer; it creates its weights on its host layer through a
 * {@link ParamFactory} (so the host tracks and saves them) and offers a pure forward function.
 *
 * Every op here has a gradient on the wasm backend: dense layers are 2-D `matMul`s (reshaped, so wasm
 * runs them through XNNPACK), attention splits heads with 4-D transposes only, and masking is an
 * additive bias (no gather, no strided slice).
 */

import * as tf from '@tensorflow/tfjs';
import { fastBlockGradients } from './block-gradients.js';
import { gelu } from './gelu.js';
import type { ParamFactory } from './mrn-layer.js';

export { setFastBlockGradients } from './block-gradients.js';
export { gelu } from './gelu.js';

/** Layer-norm epsilon of every mrn block (DINOv2's value; tfjs's default 1e-3 is far larger). */
export const LAYER_NORM_EPS = 1e-6;

/** Additive attention bias that removes a key: softmax gives it exactly zero weight in float32. */
export const MASKED_BIAS = -1e9;

/** A fully connected layer over the last axis, for inputs of any rank. */
export class DenseBlock {
  readonly kernel: tf.LayerVariable;
  readonly bias: tf.LayerVariable | null;

  constructor(
    p: ParamFactory,
    readonly inDim: number,
    readonly outDim: number,
    useBias = true,
  ) {
    this.kernel = p('kernel', [inDim, outDim], 'glorotUniform');
    this.bias = useBias ? p('bias', [outDim], 'zeros') : null;
  }

  /** `[..., inDim]` to `[..., outDim]`. */
  apply(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const lead = x.shape.slice(0, -1);
      let y = tf.matMul(tf.reshape(x, [-1, this.inDim]) as tf.Tensor2D, this.kernel.read() as tf.Tensor2D);
      if (this.bias) y = tf.add(y, this.bias.read());
      return tf.reshape(y, [...lead, this.outDim]);
    });
  }
}

/**
 * The normalised input `(x - mean) * rstd` over the last axis, with the row statistics `mean` and
 * `rstd = 1 / sqrt(var + eps)` (biased variance) a backward pass needs to recompute it.
 */
function normalise(
  x: tf.Tensor,
  eps = LAYER_NORM_EPS,
): { normed: tf.Tensor; mean: tf.Tensor; rstd: tf.Tensor } {
  const mean = tf.mean(x, -1, true);
  const centred = tf.sub(x, mean);
  const rstd = tf.rsqrt(tf.add(tf.mean(tf.square(centred), -1, true), eps));
  const normed = tf.mul(centred, rstd);
  centred.dispose();
  return { normed, mean, rstd };
}

/** `(x - mean) * rstd` from saved row statistics: the same ops, so the same bits, as the forward pass. */
function recomputeNormed(x: tf.Tensor, mean: tf.Tensor, rstd: tf.Tensor): tf.Tensor {
  const centred = tf.sub(x, mean);
  const normed = tf.mul(centred, rstd);
  centred.dispose();
  return normed;
}

/**
 * LayerNorm's input gradient `rstd * (dn - mean(dn) - n * mean(dn * n))` for `dn = dy * gamma`,
 * computed so that at most three row-sized temporaries exist at once (this runs on the largest tensors
 * of a step, at its memory peak); disposes `n`.
 */
function layerNormInputGradient(dn: tf.Tensor, n: tf.Tensor, rstd: tf.Tensor): tf.Tensor {
  const dnMean = tf.mean(dn, -1, true);
  const product = tf.mul(dn, n);
  const projection = tf.mean(product, -1, true);
  product.dispose();
  const centredGrad = tf.sub(dn, dnMean);
  const along = tf.mul(n, projection);
  n.dispose();
  const difference = tf.sub(centredGrad, along);
  centredGrad.dispose();
  along.dispose();
  return tf.mul(difference, rstd);
}

/**
 * Layer normalisation over the last axis, `gamma * (x - mean) / sqrt(var + eps) + beta` (biased
 * variance, eps {@link LAYER_NORM_EPS} unless given), as PyTorch's `nn.LayerNorm`.
 *
 * Differentiated in closed form (unless {@link setFastBlockGradients} turned it off): with
 * `n = (x - mean) * rstd` and `g = dy * gamma`,
 * `dx = rstd * (g - mean(g) - n * mean(g * n))`, `dgamma = sum(dy * n)`, `dbeta = sum(dy)` (sums over
 * every axis but the last). This is the exact gradient of the forward above (eps included); it takes
 * about half the full-size ops of tfjs's automatic differentiation, which also broadcasts each
 * `mean`'s gradient through a filled tensor. It keeps x (usually alive anyway) and the row statistics
 * for the backward pass, which recomputes `n` from them, not `n` itself (as large as x).
 */
export function layerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps = LAYER_NORM_EPS): tf.Tensor {
  if (!fastBlockGradients()) return tf.tidy(() => tf.add(tf.mul(normalise(x, eps).normed, gamma), beta));
  const dim = x.shape[x.rank - 1]!;
  // Rows of a 2-D view: broadcasting [rows, dim] against [dim] or [rows, 1] runs tfjs-wasm's fast
  // element-wise paths; the same broadcasts at rank 3-4 take its generic index loop (about 7x slower).
  const rows = x.rank === 2 ? x : tf.reshape(x, [-1, dim]);
  const fused = tf.customGrad((...args) => {
    const [xIn, gammaIn, betaIn] = args as tf.Tensor[];
    const save = args[3] as tf.GradSaveFunc;
    const { normed, mean, rstd } = normalise(xIn!, eps);
    // The input, not the normalised rows: the input is usually kept anyway (it is another layer's
    // output, or feeds a second LayerNorm), so the backward recomputes n from it at no extra memory.
    save([xIn!, mean, rstd, gammaIn!]);
    return {
      value: tf.add(tf.mul(normed, gammaIn!), betaIn!),
      // In tidy: tfjs calls a custom gradient outside any scope of its own, so its temporaries would
      // otherwise live until the whole backward pass ends.
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const [xs, m, r, g] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
          const n = recomputeNormed(xs, m, r);
          const dyN = tf.mul(dy, n);
          const dGamma = tf.sum(dyN, 0);
          dyN.dispose();
          const dn = tf.mul(dy, g);
          return [layerNormInputGradient(dn, n, r), dGamma, tf.sum(dy, 0)];
        }),
    };
  });
  const y = fused(rows, gamma, beta);
  return x.rank === 2 ? y : tf.reshape(y, x.shape);
}

/**
 * `dense(norm(x))` for an input that usually needs no gradient (cached backbone features): the same
 * values as composing the two blocks, and the same gradients, obtained more cheaply.
 *
 * With `n` the normalised rows of x, `G = n^T dy`, `s = sum(dy)` (over rows), `gamma`, `beta`, `W` and
 * `c` the blocks' weights: `dW = gamma * G + beta s^T`, `dc = s`, `dgamma = rowsum(W * G)`,
 * `dbeta = W s`. These are exact (they expand `dW = norm(x)^T dy`, `dgamma = sum(n * dy W^T)`,
 * `dbeta = sum(dy W^T)`), and need one product of the token count's size instead of two, and no
 * LayerNorm backward over the tokens. The gradient with respect to x, when x has one (a fine-tuned
 * backbone), comes from a separate zero-valued term that takes only x as input, so tfjs computes it only
 * when x is on the path to the loss (`dx = layerNormBackward(dy W^T * gamma)`).
 */
export function normalisedDense(x: tf.Tensor, norm: LayerNormBlock, dense: DenseBlock): tf.Tensor {
  if (!fastBlockGradients()) return dense.apply(norm.apply(x));
  const inDim = dense.inDim;
  const outDim = dense.outDim;
  const rows = tf.reshape(x, [-1, inDim]) as tf.Tensor2D;
  const gammaVar = norm.gamma.read();
  const betaVar = norm.beta.read();
  const kernelVar = dense.kernel.read();
  const hasBias = dense.bias !== null;
  const weights = hasBias
    ? [gammaVar, betaVar, kernelVar, dense.bias!.read()]
    : [gammaVar, betaVar, kernelVar];
  const forWeights = tf.customGrad((...args) => {
    const [gamma, beta, kernel, bias] = args.slice(0, weights.length) as tf.Tensor[];
    const save = args[weights.length] as tf.GradSaveFunc;
    // x enters as a constant here (its gradient is the term below), so its statistics are not taped.
    // Saved: x itself (the cached features, alive anyway) and its row statistics, not the normalised
    // rows (as large as x): the backward recomputes them.
    const { normed, mean, rstd } = normalise(rows, norm.eps);
    save([rows, mean, rstd, gamma!, beta!, kernel!]);
    let y = tf.matMul(tf.add(tf.mul(normed, gamma!), beta!) as tf.Tensor2D, kernel as tf.Tensor2D);
    if (bias) y = tf.add(y, bias);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const [xs, m, r, g, b, w] = saved as [
            tf.Tensor2D,
            tf.Tensor,
            tf.Tensor,
            tf.Tensor1D,
            tf.Tensor1D,
            tf.Tensor2D,
          ];
          const dy2 = dy as tf.Tensor2D;
          const n = recomputeNormed(xs, m, r) as tf.Tensor2D;
          const product = tf.matMul(n, dy2, true, false); // [in, out]
          n.dispose();
          const colSum = tf.sum(dy2, 0); // [out]
          const dKernel = tf.add(
            tf.mul(product, tf.reshape(g, [inDim, 1])),
            tf.mul(tf.reshape(b, [inDim, 1]), tf.reshape(colSum, [1, outDim])),
          );
          const dGamma = tf.sum(tf.mul(w, product), 1);
          const dBeta = tf.reshape(tf.matMul(w, tf.reshape(colSum, [outDim, 1]) as tf.Tensor2D), [inDim]);
          return hasBias ? [dGamma, dBeta, dKernel, colSum] : [dGamma, dBeta, dKernel];
        }),
    };
  });
  const forInput = tf.customGrad((...args) => {
    const xr = args[0] as tf.Tensor2D;
    const save = args[1] as tf.GradSaveFunc;
    save([xr]);
    return {
      value: tf.zeros([xr.shape[0], outDim]),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const { normed, rstd } = normalise(saved[0]!, norm.eps);
          const dn = tf.mul(tf.matMul(dy as tf.Tensor2D, kernelVar as tf.Tensor2D, false, true), gammaVar);
          return layerNormInputGradient(dn, normed, rstd);
        }),
    };
  });
  const y = tf.add(forWeights(...weights), forInput(rows));
  return tf.reshape(y, [...x.shape.slice(0, -1), outDim]);
}

/** Layer normalisation over the last axis (eps {@link LAYER_NORM_EPS} by default); see {@link layerNorm}. */
export class LayerNormBlock {
  readonly gamma: tf.LayerVariable;
  readonly beta: tf.LayerVariable;

  constructor(
    p: ParamFactory,
    dim: number,
    readonly eps = LAYER_NORM_EPS,
  ) {
    this.gamma = p('gamma', [dim], 'ones');
    this.beta = p('beta', [dim], 'zeros');
  }

  apply(x: tf.Tensor): tf.Tensor {
    return layerNorm(x, this.gamma.read(), this.beta.read(), this.eps);
  }
}

/** Two dense layers with a GELU between them. */
export class MlpBlock {
  readonly fc1: DenseBlock;
  readonly fc2: DenseBlock;

  constructor(p: ParamFactory, inDim: number, hiddenDim: number, outDim: number) {
    this.fc1 = new DenseBlock(scopedParams(p, 'fc1'), inDim, hiddenDim);
    this.fc2 = new DenseBlock(scopedParams(p, 'fc2'), hiddenDim, outDim);
  }

  apply(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.fc2.apply(gelu(this.fc1.apply(x))));
  }
}

/**
 * The SwiGLU feed-forward of DINOv2 giant (`SwiGLUFFNFused`): one dense layer `w12` gives `x1 | x2`,
 * then `w3(silu(x1) * x2)`.
 */
export class SwiGluBlock {
  readonly w12: DenseBlock;
  readonly w3: DenseBlock;

  constructor(
    p: ParamFactory,
    inDim: number,
    readonly hiddenDim: number,
    outDim: number,
  ) {
    this.w12 = new DenseBlock(scopedParams(p, 'w12'), inDim, 2 * hiddenDim);
    this.w3 = new DenseBlock(scopedParams(p, 'w3'), hiddenDim, outDim);
  }

  apply(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const [x1, x2] = tf.split(this.w12.apply(x), 2, -1) as [tf.Tensor, tf.Tensor];
      return this.w3.apply(tf.mul(tf.mul(x1, tf.sigmoid(x1)), x2));
    });
  }
}

/**
 * Multi-head self-attention with one fused `qkv` projection and an output projection `proj` (timm's
 * `Attention`). Keys can be masked with an additive `[B, T]` bias ({@link MASKED_BIAS} for padding),
 * so masked tokens never influence the others.
 */
export class AttentionBlock {
  readonly qkv: DenseBlock;
  readonly proj: DenseBlock;
  readonly headDim: number;

  constructor(
    p: ParamFactory,
    readonly dim: number,
    readonly heads: number,
  ) {
    this.headDim = dim / heads;
    this.qkv = new DenseBlock(scopedParams(p, 'qkv'), dim, 3 * dim);
    this.proj = new DenseBlock(scopedParams(p, 'proj'), dim, dim);
  }

  /** `x` `[B, T, dim]`; `keyBias` `[B, T]` additive bias on the attention logits, or null. */
  apply(x: tf.Tensor3D, keyBias: tf.Tensor2D | null): tf.Tensor3D {
    return tf.tidy(() => {
      const [b, t] = x.shape;
      const h = this.heads;
      const dh = this.headDim;
      const [q, k, v] = tf
        .split(this.qkv.apply(x), 3, -1)
        .map((part) => tf.transpose(tf.reshape(part, [b, t, h, dh]), [0, 2, 1, 3]) as tf.Tensor4D);
      let logits = tf.mul(tf.matMul(q!, k!, false, true), 1 / Math.sqrt(dh));
      if (keyBias) logits = tf.add(logits, tf.reshape(keyBias, [b, 1, 1, t]));
      const attn = tf.softmax(logits, -1) as tf.Tensor4D;
      const mixed = tf.reshape(tf.transpose(tf.matMul(attn, v!), [0, 2, 1, 3]), [b, t, this.dim]);
      return this.proj.apply(mixed) as tf.Tensor3D;
    });
  }
}

/** A per-channel learned scale `x * gamma` (DINOv2's LayerScale, initialised to ones here). */
export class LayerScaleBlock {
  readonly gamma: tf.LayerVariable;

  constructor(p: ParamFactory, dim: number) {
    this.gamma = p('gamma', [dim], 'ones');
  }

  apply(x: tf.Tensor): tf.Tensor {
    return tf.mul(x, this.gamma.read());
  }
}

/** Options of a {@link TransformerBlock} beyond its width, heads and MLP ratio (DINOv2's settings). */
export interface TransformerBlockOptions {
  /** Hidden width of the feed-forward. Default `max(1, round(dim * mlpRatio))`. */
  hiddenDim?: number;
  /** LayerNorm epsilon. Default {@link LAYER_NORM_EPS}. */
  layerNormEps?: number;
  /** LayerScale after attention and feed-forward (`ls1`, `ls2`). Default false (identity). */
  layerScale?: boolean;
  /** Feed-forward kind: GELU MLP (`fc1`, `fc2`) or SwiGLU (`w12`, `w3`). Default `'mlp'`. */
  ffn?: 'mlp' | 'swiglu';
}

/**
 * A pre-norm transformer encoder block, as timm's `Block`: `x = x + ls1(attn(norm1(x)))`, then
 * `x = x + ls2(mlp(norm2(x)))`. One implementation serves the MRN heads (no LayerScale) and the
 * DINOv2 {@link VisionTransformer} (LayerScale, configurable eps, MLP or SwiGLU). Weights are named
 * `norm1`, `attn.qkv`, `attn.proj`, `ls1`, `norm2`, `mlp.fc1`/`mlp.fc2` (or `mlp.w12`/`mlp.w3`), `ls2`.
 */
export class TransformerBlock {
  readonly norm1: LayerNormBlock;
  readonly attn: AttentionBlock;
  readonly ls1: LayerScaleBlock | null;
  readonly norm2: LayerNormBlock;
  readonly mlp: MlpBlock | SwiGluBlock;
  readonly ls2: LayerScaleBlock | null;

  constructor(
    p: ParamFactory,
    readonly dim: number,
    readonly heads: number,
    mlpRatio: number,
    options: TransformerBlockOptions = {},
  ) {
    const eps = options.layerNormEps ?? LAYER_NORM_EPS;
    const hidden = options.hiddenDim ?? Math.max(1, Math.round(dim * mlpRatio));
    const scoped = (prefix: string) => scopedParams(p, prefix);
    this.norm1 = new LayerNormBlock(scoped('norm1'), dim, eps);
    this.attn = new AttentionBlock(scoped('attn'), dim, heads);
    this.ls1 = options.layerScale ? new LayerScaleBlock(scoped('ls1'), dim) : null;
    this.norm2 = new LayerNormBlock(scoped('norm2'), dim, eps);
    this.mlp =
      options.ffn === 'swiglu'
        ? new SwiGluBlock(scoped('mlp'), dim, hidden, dim)
        : new MlpBlock(scoped('mlp'), dim, hidden, dim);
    this.ls2 = options.layerScale ? new LayerScaleBlock(scoped('ls2'), dim) : null;
  }

  /** `x` `[B, T, dim]`; `keyBias` `[B, T]` additive bias on the attention logits, or null. */
  apply(x: tf.Tensor3D, keyBias: tf.Tensor2D | null = null): tf.Tensor3D {
    const ls1 = (y: tf.Tensor) => (this.ls1 ? this.ls1.apply(y) : y);
    const ls2 = (y: tf.Tensor) => (this.ls2 ? this.ls2.apply(y) : y);
    return tf.tidy(() => {
      const y = tf.add(x, ls1(this.attn.apply(this.norm1.apply(x) as tf.Tensor3D, keyBias))) as tf.Tensor3D;
      return tf.add(y, ls2(this.mlp.apply(this.norm2.apply(y)))) as tf.Tensor3D;
    });
  }
}

/** Output of {@link AttentionPoolBlock.apply}. */
export interface PooledTokens {
  /** `[B, outDim]` the weighted mean of the (normalised) tokens, projected. */
  pooled: tf.Tensor2D;
  /** `[B, T]` the pooling weights (rows sum to 1; masked tokens get 0). */
  weights: tf.Tensor2D;
}

/**
 * Single-query attention pooling: a learned query scores layer-normalised tokens through a key
 * projection; the softmax of the scores (plus an optional additive bias, e.g. a log-prior or a padding
 * mask) weighs the tokens, and the weighted mean is projected. Projecting after pooling is exact
 * (the weights sum to 1) and saves a dense layer per token; so is scoring with `tokens (Wk q)` instead
 * of `(tokens Wk) q` (the key projection has no bias), which saves the key projection of every token.
 */
export class AttentionPoolBlock {
  readonly norm: LayerNormBlock;
  readonly key: DenseBlock;
  readonly query: tf.LayerVariable;
  readonly value: DenseBlock;

  constructor(
    p: ParamFactory,
    readonly dim: number,
    readonly keyDim: number,
    readonly outDim: number,
  ) {
    this.norm = new LayerNormBlock(scopedParams(p, 'norm'), dim);
    // No key bias: it adds the same constant to every score, which softmax ignores (zero gradient).
    this.key = new DenseBlock(scopedParams(p, 'key'), dim, keyDim, false);
    this.query = p('query', [keyDim, 1], { normal: 0.02 });
    this.value = new DenseBlock(scopedParams(p, 'value'), dim, outDim);
  }

  /** `x` `[B, T, dim]`; `bias` `[B, T]` added to the scores, or null. */
  apply(x: tf.Tensor3D, bias: tf.Tensor2D | null): PooledTokens {
    return tf.tidy(() => {
      const [b, t] = x.shape;
      const normed = this.norm.apply(x);
      let scores: tf.Tensor;
      if (fastBlockGradients()) {
        // (tokens Wk) q = tokens (Wk q): the single query folds into the key projection, so the
        // [T, dim] x [dim, keyDim] product (and its two gradient products) becomes [T, dim] x [dim, 1].
        const keyQuery = tf.matMul(this.key.kernel.read() as tf.Tensor2D, this.query.read() as tf.Tensor2D);
        scores = tf.reshape(tf.matMul(tf.reshape(normed, [b * t, this.dim]) as tf.Tensor2D, keyQuery), [
          b,
          t,
        ]);
      } else {
        const keys = this.key.apply(normed);
        scores = tf.reshape(
          tf.matMul(tf.reshape(keys, [b * t, this.keyDim]) as tf.Tensor2D, this.query.read() as tf.Tensor2D),
          [b, t],
        );
      }
      scores = tf.mul(scores, 1 / Math.sqrt(this.keyDim));
      if (bias) scores = tf.add(scores, bias);
      const weights = tf.softmax(scores, -1) as tf.Tensor2D;
      // The weighted mean as a batched [1, T] x [T, dim] product: its gradients are products too,
      // where a broadcast multiply and sum would cost rank-3 broadcasts and reductions (slow on wasm).
      const mean = fastBlockGradients()
        ? tf.reshape(tf.matMul(tf.reshape(weights, [b, 1, t]) as tf.Tensor3D, normed as tf.Tensor3D), [
            b,
            this.dim,
          ])
        : tf.sum(tf.mul(normed, tf.expandDims(weights, -1)), 1);
      return { pooled: this.value.apply(mean) as tf.Tensor2D, weights };
    });
  }
}

/** A {@link ParamFactory} that prefixes paths with `prefix.`. */
export function scopedParams(p: ParamFactory, prefix: string): ParamFactory {
  return (path, shape, init, trainable) => p(`${prefix}.${path}`, shape, init, trainable);
}

/** The additive key bias for `[B, T]` validity flags: 0 for valid tokens, {@link MASKED_BIAS} for padding. */
export function paddingBias(valid: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.mul(tf.sub(1, valid), MASKED_BIAS) as tf.Tensor2D);
}
