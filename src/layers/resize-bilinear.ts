/**
 * Bilinear resizing with half-pixel centres whose gradient is right.
 *
 * Why this exists: in tfjs 4.22 the `ResizeBilinearGrad` kernels (cpu and wasm alike) ignore
 * `halfPixelCenters`. They back-propagate through the legacy mapping `src = dst · in/out` while the
 * forward pass used `src = (dst + ½) · in/out − ½`, so the gradient of
 * `tf.image.resizeBilinear(x, size, false, true)` is not the adjoint of the forward resize (found by
 * the PyTorch twin of the heads, bench/heads.py: the aux head's gradients were off by ~0.5%).
 */

import * as tf from '@tensorflow/tfjs';

/**
 * The `[outSize, inSize]` matrix of 1-D bilinear interpolation with half-pixel centres, as PyTorch's
 * `F.interpolate(mode='bilinear', align_corners=False)` (no antialiasing) and tfjs's forward
 * `resizeBilinear(..., alignCorners = false, halfPixelCenters = true)` compute it: output p samples
 * the input at `max((p + ½) · in/out − ½, 0)`, clamped to the last input index.
 */
export function bilinearInterpolationMatrix(inSize: number, outSize: number): Float32Array {
  const m = new Float32Array(outSize * inSize);
  const scale = inSize / outSize;
  for (let p = 0; p < outSize; p++) {
    const src = Math.max((p + 0.5) * scale - 0.5, 0);
    const i0 = Math.min(Math.floor(src), inSize - 1);
    const i1 = Math.min(i0 + 1, inSize - 1);
    const lerp = src - Math.floor(src);
    m[p * inSize + i0] += 1 - lerp;
    m[p * inSize + i1] += lerp;
  }
  return m;
}

/** `m` `[a', a]` applied along axis 1 of `x` `[n, a, b, k]`: `[n, a', b, k]` (4-D transposes, one 2-D matmul). */
function applyAlongAxis1(x: tf.Tensor4D, m: tf.Tensor2D): tf.Tensor4D {
  const [n, a, b, k] = x.shape;
  const rows = tf.reshape(tf.transpose(x, [1, 0, 2, 3]), [a, n * b * k]) as tf.Tensor2D;
  const mixed = tf.reshape(tf.matMul(m, rows), [m.shape[0], n, b, k]);
  return tf.transpose(mixed, [1, 0, 2, 3]) as tf.Tensor4D;
}

/**
 * `tf.image.resizeBilinear(images, size, false, true)` (half-pixel centres, PyTorch's
 * `align_corners=False`) with the exact gradient: the forward pass is tfjs's kernel, unchanged; the
 * backward pass applies the transposed interpolation matrices along height and width (matmuls, so it
 * runs on every backend).
 *
 * @param images `[n, h, w, k]` float32.
 * @param size `[newHeight, newWidth]`.
 */
export function resizeBilinearHalfPixel(images: tf.Tensor4D, size: [number, number]): tf.Tensor4D {
  const [, h, w] = images.shape;
  const [outH, outW] = size;
  const resize = tf.customGrad(((x: tf.Tensor4D) => ({
    value: tf.image.resizeBilinear(x, size, false, true),
    gradFunc: (dy: tf.Tensor4D) =>
      tf.tidy(() => {
        const alongH = tf.tensor2d(bilinearInterpolationMatrix(h, outH), [outH, h]);
        const alongW = tf.tensor2d(bilinearInterpolationMatrix(w, outW), [outW, w]);
        const dh = applyAlongAxis1(dy, tf.transpose(alongH) as tf.Tensor2D); // [n, h, outW, k]
        const swapped = tf.transpose(dh, [0, 2, 1, 3]) as tf.Tensor4D; // [n, outW, h, k]
        const dw = applyAlongAxis1(swapped, tf.transpose(alongW) as tf.Tensor2D); // [n, w, h, k]
        return tf.transpose(dw, [0, 2, 1, 3]);
      }),
  })) as any) as (x: tf.Tensor4D) => tf.Tensor4D;
  return resize(images);
}
