/**
 * GELU, the activation of the aux head's and the transformers' MLPs, with the gradient PyTorch uses.
 */

import * as tf from '@tensorflow/tfjs';
import { fastBlockGradients } from './block-gradients.js';

/** `x * Φ(x)` with the standard normal CDF `Φ(x) = (1 + erf(x / √2)) / 2`: the forward of {@link gelu}. */
function geluValue(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2)))));
}

const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/**
 * Exact (erf) GELU, as in PyTorch's default `nn.GELU`.
 *
 * Differentiated in closed form (unless `setFastBlockGradients(false)` turned it off), as PyTorch does:
 * `dx = dy * (Φ(x) + x φ(x))`, `φ(x) = exp(-x²/2) / √(2π)`, keeping only x for the backward pass (tfjs's
 * automatic differentiation of the composite keeps four tensors of x's size).
 */
export function gelu(x: tf.Tensor): tf.Tensor {
  if (!fastBlockGradients()) return geluValue(x);
  const fused = tf.customGrad((...args) => {
    const xIn = args[0] as tf.Tensor;
    (args[1] as tf.GradSaveFunc)([xIn]);
    return {
      value: geluValue(xIn),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const xs = saved[0]!;
          const cdf = tf.mul(tf.add(1, tf.erf(tf.mul(xs, Math.SQRT1_2))), 0.5);
          const pdf = tf.mul(tf.exp(tf.mul(tf.square(xs), -0.5)), INV_SQRT_2PI);
          return tf.mul(dy, tf.add(cdf, tf.mul(xs, pdf)));
        }),
    };
  });
  return fused(x);
}
