import { describe, expect, it } from 'vitest';
import { crc32, encodePngRgb } from '../../src/plots/png.js';
import { decodePng } from './helpers/svg-checks.js';

describe('plot helpers', () => {
  it('CRC-32 matches the standard check value and PNGs round-trip', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    const rgb = new Uint8Array(5 * 3 * 3).map((_, i) => (i * 37) % 256);
    const png = encodePngRgb(rgb, 5, 3);
    const back = decodePng(png);
    expect(back.width).toBe(5);
    expect(back.height).toBe(3);
    expect(Array.from(back.rgb)).toEqual(Array.from(rgb));
    expect(() => encodePngRgb(rgb, 4, 3)).toThrow(/do not make a 4x3/);
  });
});
