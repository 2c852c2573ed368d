import { describe, expect, it } from 'vitest';
import { createRng, rotateScale, type RoiSample } from '../../../src/index.js';

/** A random sample with the last slice invalid. */
function randomSample(D: number, S: number, seed: number): RoiSample {
  const rng = createRng(seed);
  const slices = Float32Array.from({ length: D * S * S }, () => rng.next());
  const masks = Int32Array.from({ length: D * S * S }, () => rng.int(0, 4));
  const valid = Uint8Array.from({ length: D }, (_, z) => (z === D - 1 ? 0 : 1));
  return { depth: D, size: S, slices, masks, valid };
}

/** rotateScale as it was before its sampling plan was computed once per stack (per-pixel maths). */
function rotateScaleReference(
  sample: RoiSample,
  angleDeg: number,
  scale: number,
  padValue: number,
): RoiSample {
  const { depth: D, size: S } = sample;
  const c0 = (S - 1) / 2;
  const t = (angleDeg * Math.PI) / 180;
  const cos = Math.cos(t) / scale;
  const sin = Math.sin(t) / scale;
  const plane = S * S;
  const srcX = new Float64Array(plane);
  const srcY = new Float64Array(plane);
  for (let r = 0; r < S; r++) {
    for (let c = 0; c < S; c++) {
      srcX[r * S + c] = c0 + (cos * (c - c0) + sin * (c0 - r));
      srcY[r * S + c] = c0 - (-sin * (c - c0) + cos * (c0 - r));
    }
  }
  const slices = new Float32Array(sample.slices.length).fill(padValue);
  const masks = new Int32Array(sample.masks.length);
  for (let z = 0; z < D; z++) {
    const off = z * plane;
    for (let p = 0; p < plane; p++) {
      const u = srcX[p]!;
      const v = srcY[p]!;
      const ni = Math.round(u + 1e-9);
      const nj = Math.round(v + 1e-9);
      if (ni >= 0 && ni < S && nj >= 0 && nj < S) masks[off + p] = sample.masks[off + nj * S + ni]!;
      if (u < -0.5 || u > S - 0.5 || v < -0.5 || v > S - 0.5) continue;
      const uc = Math.min(Math.max(u, 0), S - 1);
      const vc = Math.min(Math.max(v, 0), S - 1);
      const x0 = Math.floor(uc);
      const y0 = Math.floor(vc);
      const x1 = Math.min(x0 + 1, S - 1);
      const y1 = Math.min(y0 + 1, S - 1);
      const fx = uc - x0;
      const fy = vc - y0;
      const a = sample.slices[off + y0 * S + x0]! * (1 - fx) + sample.slices[off + y0 * S + x1]! * fx;
      const b = sample.slices[off + y1 * S + x0]! * (1 - fx) + sample.slices[off + y1 * S + x1]! * fx;
      slices[off + p] = a * (1 - fy) + b * fy;
    }
    if (!sample.valid[z]) slices.fill(padValue, off, off + plane);
  }
  return { depth: D, size: S, slices, masks, valid: sample.valid.slice() };
}

describe('rotateScale sampling plan', () => {
  it('gives bit for bit what per-pixel sampling gives (angles incl. 0 and 90, zoom in and out, padding)', () => {
    for (const [angle, scale, pad, S] of [
      [0, 1, 0, 8],
      [7.5, 1.08, 0, 11],
      [-9.3, 0.91, 0.25, 12],
      [90, 1, 0, 9],
      [45, 0.5, -1, 10],
    ] as const) {
      const s = randomSample(3, S, S + Math.round(Math.abs(angle)));
      const got = rotateScale(s, { angleDeg: angle, scale, padValue: pad });
      const want = rotateScaleReference(s, angle, scale, pad);
      expect(got.slices).toEqual(want.slices);
      expect(got.masks).toEqual(want.masks);
      expect(got.valid).toEqual(want.valid);
    }
  });
});
