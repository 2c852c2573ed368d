/**
 * Bicubic resampling exactly as PyTorch's CPU kernels do it (`F.interpolate(mode='bicubic',
 * align_corners=False)`), in plain TypeScript: tfjs has no bicubic op, and DINOv2's position embeddings
 * must be resized the way the checkpoints were trained. Two forms:
 *
 * - plain (`upsample_bicubic2d`): 4 taps, Keys kernel with A = -0.75, border indices clamped; the
 *   source coordinate uses `1 / scale_factor` when a scale factor is given (DINOv2's
 *   `(grid + 0.1) / M` kludge), else `in / out`;
 * - antialiased (`_upsample_bicubic2d_aa`): Pillow-style separable filter with A = -0.5 whose support
 *   widens by the downscale factor, weights normalised per output pixel; width pass first, then height,
 *   a pass skipped when its size does not change.
 *
 * Arithmetic mirrors the C++ (float32 weights and accumulations, `Math.fround` at each step, double
 * where the C++ promotes to double) so results agree with PyTorch to float rounding.
 */

const f = Math.fround;

/** Interpolation taps of one axis: output `i` reads `count[i]` inputs from `index[i*k..]` with `weight[i*k..]`. */
export interface AxisTaps {
  /** Input length. */
  inSize: number;
  /** Output length. */
  outSize: number;
  /** Taps per output (the stride of `index` / `weight`). */
  k: number;
  /** Number of used taps per output. */
  count: Int32Array;
  /** Input indices, `outSize × k`. */
  index: Int32Array;
  /** Float32 weights, `outSize × k`. */
  weight: Float32Array;
}

/** `area_pixel_compute_scale` (align_corners=False): `1/scale_factor` if given, else in/out, as float32. */
function computeScale(inSize: number, outSize: number, scaleFactor?: number): number {
  return scaleFactor !== undefined && scaleFactor > 0 ? f(1 / scaleFactor) : f(inSize / outSize);
}

/**
 * `a * b + c` rounded once to float32, as the fused multiply-add the C++ compiler contracts these
 * expressions into (PyTorch's CPU kernels are built with FMA enabled). The double product of two
 * floats is exact, so one double addition and one `fround` give the fused result.
 */
function fma(a: number, b: number, c: number): number {
  return f(a * b + c);
}

function cubicConv1(x: number, a: number): number {
  // ((A + 2) * x - (A + 3)) * x * x + 1
  return fma(f(fma(f(a + 2), x, -f(a + 3)) * x), x, 1);
}

function cubicConv2(x: number, a: number): number {
  // ((A * x - 5A) * x + 8A) * x - 4A
  return fma(fma(fma(a, x, -f(5 * a)), x, f(8 * a)), x, -f(4 * a));
}

/** Taps of PyTorch's plain bicubic (`HelperInterpCubic::compute_indices_weights`). */
export function cubicTaps(inSize: number, outSize: number, scaleFactor?: number): AxisTaps {
  const k = 4;
  const a = -0.75;
  const scale = computeScale(inSize, outSize, scaleFactor);
  const index = new Int32Array(outSize * k);
  const weight = new Float32Array(outSize * k);
  const count = new Int32Array(outSize).fill(k);
  for (let i = 0; i < outSize; i++) {
    // The source coordinate stays double (float scale promoted by the double 0.5); only the
    // fractional part is rounded to float. Checked against PyTorch's weights from one-hot inputs.
    const real = scale * (i + 0.5) - 0.5;
    const inputIndex = Math.min(Math.floor(real), inSize - 1);
    const t = Math.min(Math.max(f(real - inputIndex), 0), 1);
    const x2 = f(1 - t);
    const w = [cubicConv2(f(t + 1), a), cubicConv1(t, a), cubicConv1(x2, a), cubicConv2(f(x2 + 1), a)];
    for (let j = 0; j < k; j++) {
      index[i * k + j] = Math.max(0, Math.min(inputIndex - 1 + j, inSize - 1));
      weight[i * k + j] = w[j];
    }
  }
  return { inSize, outSize, k, count, index, weight };
}

function aaFilter(x: number): number {
  // Pillow's bicubic (A = -0.5), as PyTorch's antialias path
  const ax = Math.abs(x);
  if (ax < 1) return cubicConv1(ax, -0.5);
  if (ax < 2) return cubicConv2(ax, -0.5);
  return 0;
}

/** Taps of PyTorch's antialiased bicubic (`HelperInterpCubic::compute_indices_weights_aa`). */
export function cubicAntialiasTaps(inSize: number, outSize: number, scaleFactor?: number): AxisTaps {
  const scale = computeScale(inSize, outSize, scaleFactor);
  const support = scale >= 1 ? f(2 * scale) : 2;
  const k = Math.ceil(support) * 2 + 1;
  const invscale = scale >= 1 ? f(1 / scale) : 1;
  const index = new Int32Array(outSize * k);
  const weight = new Float32Array(outSize * k);
  const count = new Int32Array(outSize);
  for (let i = 0; i < outSize; i++) {
    const center = f(scale * (i + 0.5));
    const xmin = Math.max(Math.trunc(f(center - support) + 0.5), 0);
    const xsize = Math.min(Math.trunc(f(center + support) + 0.5), inSize) - xmin;
    let total = 0;
    const w = new Array<number>(xsize);
    for (let j = 0; j < xsize; j++) {
      w[j] = aaFilter(f((f(j + xmin - center) + 0.5) * invscale));
      total = f(total + w[j]);
    }
    for (let j = 0; j < xsize; j++) {
      index[i * k + j] = xmin + j;
      weight[i * k + j] = total !== 0 ? f(w[j] / total) : w[j];
    }
    count[i] = xsize;
  }
  return { inSize, outSize, k, count, index, weight };
}

/** How to resize a grid with {@link resizeBicubic}. */
export interface BicubicResize {
  /** Output height and width. */
  outH: number;
  /** Output width. */
  outW: number;
  /** `[sh, sw]` when the caller gave PyTorch a `scale_factor` (its inverse then sets the coordinates). */
  scaleFactor?: [number, number];
  /** PyTorch's `antialias=True`. */
  antialias: boolean;
}

/**
 * Resizes a channels-last grid `[inH, inW, C]` (row-major Float32Array) to `[outH, outW, C]` exactly as
 * PyTorch's bicubic interpolation (align_corners=False) does on the equivalent NCHW tensor.
 */
export function resizeBicubic(
  src: Float32Array,
  inH: number,
  inW: number,
  channels: number,
  resize: BicubicResize,
): Float32Array {
  const { outH, outW, scaleFactor, antialias } = resize;
  if (src.length !== inH * inW * channels) {
    throw new RangeError(`resizeBicubic: ${src.length} values is not ${inH}x${inW}x${channels}`);
  }
  if (antialias) {
    // separable: width first, then height; a pass whose size is unchanged is skipped
    let cur = src;
    if (outW !== inW)
      cur = applyAxis(cur, inH, inW, channels, cubicAntialiasTaps(inW, outW, scaleFactor?.[1]), 'w');
    if (outH !== inH)
      cur = applyAxis(cur, inH, outW, channels, cubicAntialiasTaps(inH, outH, scaleFactor?.[0]), 'h');
    return cur === src ? src.slice() : cur;
  }
  const th = cubicTaps(inH, outH, scaleFactor?.[0]);
  const tw = cubicTaps(inW, outW, scaleFactor?.[1]);
  const out = new Float32Array(outH * outW * channels);
  const row = new Float32Array(channels);
  for (let oy = 0; oy < outH; oy++) {
    for (let ox = 0; ox < outW; ox++) {
      const o = (oy * outW + ox) * channels;
      // sum over height taps of (sum over width taps), accumulated in float32 like the C++ kernel
      for (let jy = 0; jy < 4; jy++) {
        const y = th.index[oy * 4 + jy];
        const wy = th.weight[oy * 4 + jy];
        for (let c = 0; c < channels; c++) row[c] = 0;
        for (let jx = 0; jx < 4; jx++) {
          const x = tw.index[ox * 4 + jx];
          const wx = tw.weight[ox * 4 + jx];
          const s = (y * inW + x) * channels;
          for (let c = 0; c < channels; c++) row[c] = fma(src[s + c], wx, row[c]);
        }
        for (let c = 0; c < channels; c++) out[o + c] = fma(row[c], wy, out[o + c]);
      }
    }
  }
  return out;
}

function applyAxis(
  src: Float32Array,
  h: number,
  w: number,
  channels: number,
  taps: AxisTaps,
  axis: 'h' | 'w',
): Float32Array {
  const outH = axis === 'h' ? taps.outSize : h;
  const outW = axis === 'w' ? taps.outSize : w;
  const out = new Float32Array(outH * outW * channels);
  for (let oy = 0; oy < outH; oy++) {
    for (let ox = 0; ox < outW; ox++) {
      const i = axis === 'h' ? oy : ox;
      const o = (oy * outW + ox) * channels;
      for (let j = 0; j < taps.count[i]; j++) {
        const idx = taps.index[i * taps.k + j];
        const wt = taps.weight[i * taps.k + j];
        const s = axis === 'h' ? (idx * w + ox) * channels : (oy * w + idx) * channels;
        for (let c = 0; c < channels; c++) out[o + c] = fma(src[s + c], wt, out[o + c]);
      }
    }
  }
  return out;
}

/**
 * The dense `[outSize, inSize]` matrix of one axis' taps (duplicate clamped indices summed). Used for
 * a differentiable resize when the position embedding itself is trained.
 */
export function tapsToMatrix(taps: AxisTaps): Float32Array {
  const m = new Float32Array(taps.outSize * taps.inSize);
  for (let i = 0; i < taps.outSize; i++) {
    for (let j = 0; j < taps.count[i]; j++) {
      m[i * taps.inSize + taps.index[i * taps.k + j]] += taps.weight[i * taps.k + j];
    }
  }
  return m;
}
