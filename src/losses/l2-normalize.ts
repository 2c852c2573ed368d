/**
 * L2 normalisation along the last axis that stays finite, with finite gradients, for zero vectors.
 */

import * as tf from '@tensorflow/tfjs';

/** Default ε of {@link l2Normalize}: PyTorch's `F.normalize` eps. */
export const L2_NORMALIZE_EPSILON = 1e-12;

/**
 * `x / sqrt(‖x‖² + ε²)` along the last axis.
 *
 * For vectors with ‖x‖ ≫ ε this is `x / ‖x‖` to float32 precision (ε² is far below the float32
 * resolution of ‖x‖²), as PyTorch's `F.normalize(x, dim=-1)` computes it. A zero vector maps to
 * zero instead of `0 / 0`, and because ε² sits inside the square root the gradient at zero is finite
 * (`1/ε` times the incoming gradient, as with PyTorch's clamped norm) instead of `sqrt'(0) = ∞`.
 *
 * @param x any-rank float tensor; the last axis is normalised.
 * @param epsilon ε > 0; default {@link L2_NORMALIZE_EPSILON}.
 */
export function l2Normalize<T extends tf.Tensor>(x: T, epsilon: number = L2_NORMALIZE_EPSILON): T {
  return tf.tidy(() => {
    const squaredNorm = tf.sum(tf.square(x), -1, true);
    return tf.mul(x, tf.rsqrt(tf.add(squaredNorm, epsilon * epsilon))) as T;
  });
}
