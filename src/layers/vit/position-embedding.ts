/**
 * DINOv2's position-embedding interpolation (`DinoVisionTransformer.interpolate_pos_encoding`): the
 * learned `M × M` grid of patch position embeddings is resized bicubically to the input's patch grid;
 * the class token's embedding is kept as is.
 */

import { MrnError } from '../../errors.js';
import { resizeBicubic } from './bicubic.js';

/** How a checkpoint family resizes its position embeddings. */
export interface PositionInterpolation {
  /**
   * Original DINOv2: `0.1`, giving `scale_factor = (grid + 0.1) / M` (a historical kludge that shifts
   * sampling positions slightly). `0`: `size = grid` (the with-registers family).
   */
  offset: number;
  /** PyTorch `antialias` (true for the with-registers family). */
  antialias: boolean;
}

/**
 * Resizes DINOv2 position embeddings `[1 + M*M, E]` (row-major, class token first) to the patch grid
 * `gridH × gridW`, returning `[1 + gridH*gridW, E]`. Like the official code it returns the embeddings
 * unchanged when the grid is the trained `M × M` one. Throws `E_INVALID_ARGUMENT` when the offset form
 * cannot produce the requested grid (PyTorch would fail the same assertion).
 */
export function interpolatePositionEmbedding(
  pos: Float32Array,
  embedDim: number,
  gridH: number,
  gridW: number,
  how: PositionInterpolation,
): Float32Array {
  const n = pos.length / embedDim - 1;
  const m = Math.round(Math.sqrt(n));
  if (!Number.isInteger(n) || m * m !== n) {
    throw new MrnError(
      'E_INVALID_ARGUMENT',
      `position embedding of ${pos.length / embedDim} tokens is not 1 + M*M`,
    );
  }
  if (gridH === m && gridW === m) return pos;
  let resize;
  if (how.offset) {
    // float(w0 + offset) / M in Python doubles; the output size PyTorch derives is floor(M * scale)
    const sh = (gridH + how.offset) / m;
    const sw = (gridW + how.offset) / m;
    const outH = Math.floor(m * sh);
    const outW = Math.floor(m * sw);
    if (outH !== gridH || outW !== gridW) {
      throw new MrnError(
        'E_INVALID_ARGUMENT',
        `position-embedding interpolation with offset ${how.offset} gives a ${outH}x${outW} grid, not ${gridH}x${gridW}`,
      );
    }
    resize = { outH, outW, scaleFactor: [sh, sw] as [number, number], antialias: how.antialias };
  } else {
    resize = { outH: gridH, outW: gridW, antialias: how.antialias };
  }
  const patch = resizeBicubic(pos.subarray(embedDim), m, m, embedDim, resize);
  const out = new Float32Array((1 + gridH * gridW) * embedDim);
  out.set(pos.subarray(0, embedDim), 0);
  out.set(patch, embedDim);
  return out;
}
