import { describe, expect, it } from 'vitest';
import { MrnError, rotateScale, type RoiSample } from '../../../src/index.js';
import { at, randomSample } from '../helpers/random-roi-sample.js';

describe('rotateScale', () => {
  it('is the identity at 0 degrees and scale 1', () => {
    const s = randomSample(2, 8, 3);
    const r = rotateScale(s, { angleDeg: 0, scale: 1 });
    expect(r.masks).toEqual(s.masks);
    for (let p = 0; p < s.slices.length; p++) expect(r.slices[p]).toBeCloseTo(s.slices[p]!, 6);
  });

  it('rotates counter-clockwise as displayed, image and mask alike', () => {
    const s = randomSample(1, 7, 4);
    const r = rotateScale({ ...s, valid: Uint8Array.of(1) }, { angleDeg: 90, scale: 1 });
    // Counter-clockwise by 90 degrees: the top row becomes the left column (read bottom-up).
    for (let row = 0; row < 7; row++)
      for (let c = 0; c < 7; c++) {
        const src = at(s, 0, c, 6 - row);
        expect(r.masks[at(s, 0, row, c)]).toBe(s.masks[src]);
        expect(r.slices[at(s, 0, row, c)]).toBeCloseTo(s.slices[src]!, 5);
      }
  });

  it('zooms about the centre and fills outside with padValue and background', () => {
    const S = 9;
    const slices = new Float32Array(S * S);
    const masks = new Int32Array(S * S);
    for (let p = 0; p < S * S; p++) {
      slices[p] = 1;
      masks[p] = 2;
    }
    const s: RoiSample = { depth: 1, size: S, slices, masks, valid: Uint8Array.of(1) };
    const small = rotateScale(s, { angleDeg: 0, scale: 0.5, padValue: -1 });
    expect(small.slices[at(s, 0, 4, 4)]).toBe(1);
    expect(small.masks[at(s, 0, 4, 4)]).toBe(2);
    expect(small.slices[0]).toBe(-1);
    expect(small.masks[0]).toBe(0);
    expect(() => rotateScale(s, { angleDeg: 0, scale: 0 })).toThrow(MrnError);
  });
});
