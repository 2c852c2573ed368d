import { describe, expect, it } from 'vitest';
import { readSafetensors } from '../../../src/io/safetensors.js';
import {
  resizeBicubic,
  cubicAntialiasTaps,
  cubicTaps,
  tapsToMatrix,
} from '../../../src/layers/vit/bicubic.js';
import { maxAbsDiff } from '../../helpers/arrays.js';

const fixture = (p: string) => new URL(`../../fixtures/dinov2/${p}`, import.meta.url).pathname;

/** NCHW [1,C,H,W] -> channels-last [H,W,C]. */
function toHwc(data: Float32Array, c: number, h: number, w: number): Float32Array {
  const out = new Float32Array(h * w * c);
  for (let k = 0; k < c; k++) for (let i = 0; i < h * w; i++) out[i * c + k] = data[k * h * w + i];
  return out;
}

describe('bicubic resize against PyTorch F.interpolate', async () => {
  const t = await readSafetensors(fixture('interp.safetensors'));
  const cases = Object.keys(t)
    .filter((k) => k.endsWith('.input'))
    .map((k) => k.split('.')[0]);
  it('has the golden cases', () => expect(cases.length).toBe(6));
  for (const i of cases) {
    const input = t[`${i}.input`];
    const [, c, h, w] = input.shape;
    const src = toHwc(input.data as Float32Array, c, h, w);
    for (const form of ['offset_noaa', 'size_aa', 'size_noaa'] as const) {
      const ref = t[`${i}.${form}`];
      const [, , oh, ow] = ref.shape;
      it(`case ${i}: ${h}x${w} -> ${oh}x${ow} ${form}`, () => {
        const resize =
          form === 'offset_noaa'
            ? {
                outH: oh,
                outW: ow,
                scaleFactor: [(oh + 0.1) / h, (ow + 0.1) / w] as [number, number],
                antialias: false,
              }
            : { outH: oh, outW: ow, antialias: form === 'size_aa' };
        const out = resizeBicubic(src, h, w, c, resize);
        expect(maxAbsDiff(out, toHwc(ref.data as Float32Array, c, oh, ow))).toBeLessThan(2e-6);
      });
    }
  }

  it('dense tap matrices reproduce the tap sums (differentiable path)', () => {
    for (const taps of [cubicTaps(7, 16), cubicAntialiasTaps(37, 16), cubicTaps(37, 16, 16.1 / 37)]) {
      const m = tapsToMatrix(taps);
      for (let i = 0; i < taps.outSize; i++) {
        let s = 0;
        for (let j = 0; j < taps.inSize; j++) s += m[i * taps.inSize + j];
        expect(s).toBeCloseTo(1, 5); // interpolation weights sum to one
      }
    }
  });
});
