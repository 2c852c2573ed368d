import { describe, expect, it } from 'vitest';
import { caseExplanationSvg } from '../../src/plots/case-explanation.js';
import { decodePng, expectWellFormed } from './helpers/svg-checks.js';

describe('figures', () => {
  it('case explanation: one embedded PNG per slice, attention bars, padding marked', () => {
    const d = 3;
    const s = 8;
    const slices = new Float32Array(d * s * s).map((_, i) => Math.sin(i));
    const predicted = new Int32Array(d * s * s).map((_, i) => (i % s > 4 ? 1 : 0));
    const truth = new Int32Array(d * s * s).map((_, i) => (i % s > 3 ? 1 : 0));
    const svg = caseExplanationSvg({
      caseId: 'RJPD_001',
      probPd: 0.8123,
      label: 1,
      rois: [
        {
          roiId: 'qsm-mb',
          slices,
          depth: d,
          size: s,
          valid: [1, 1, 0],
          sliceAttention: [0.25, 0.75, 0],
          predicted,
          truth,
          classNames: ['SN'],
        },
      ],
      roiAttention: { 'qsm-mb': 1 },
    });
    expectWellFormed(svg);
    expect((svg.match(/data:image\/png;base64,/g) ?? []).length).toBe(3);
    expect(svg).toContain('RJPD_001: P(PD) = 0.812 → PD, true label PD');
    expect(svg).toContain('>0.75<');
    expect(svg).toContain('>pad<');
    // The overlay changes pixels where the aux head predicts the nucleus.
    const first = svg.match(/data:image\/png;base64,([^"]+)/)![1]!;
    const img = decodePng(new Uint8Array(Buffer.from(first, 'base64')));
    const px = (x: number, y: number) => Array.from(img.rgb.subarray((y * s + x) * 3, (y * s + x) * 3 + 3));
    const [r, g, b] = px(6, 2);
    expect(r === g && g === b).toBe(false); // coloured overlay
    expect(px(4, 2)).toEqual([255, 255, 255]); // truth outline (class boundary at x=4)
    expect(() =>
      caseExplanationSvg({
        caseId: 'x',
        probPd: 0.5,
        rois: [{ roiId: 'r', slices, depth: 2, size: s, valid: [1, 1], sliceAttention: [1, 0] }],
      }),
    ).toThrow(/do not match depth 2/);
  });
});
