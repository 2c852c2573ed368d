import { describe, expect, it } from 'vitest';
import { escapeXml, niceTicks } from '../../src/plots/svg.js';

describe('plot helpers', () => {
  it('escape text and pick round ticks', () => {
    expect(escapeXml('a<b & "c"')).toBe('a&lt;b &amp; &quot;c&quot;');
    expect(niceTicks(0, 1, 5)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(0.37, 2.9, 5)).toEqual([0.5, 1, 1.5, 2, 2.5]);
    expect(niceTicks(3, 3)).toEqual([3]);
  });
});
