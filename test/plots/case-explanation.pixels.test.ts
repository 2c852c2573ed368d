/**
 * The figure as a person sees it: the SVG is rasterised (resvg) and the assertions are on pixels
 * (helpers/raster.ts). Set MRN_PLOT_PNG_DIR to keep the PNGs for a look.
 */

import { describe, expect, it } from 'vitest';
import { caseExplanationSvg, type RoiExplanation } from '../../src/plots/case-explanation.js';
import { hex, near, rasterise, rgbAt } from './helpers/raster.js';

describe('figures rendered to PNG', () => {
  it('case explanation: bars share one scale (twice the weight, twice as tall across ROIs) and 1/D is marked', () => {
    const s = 6;
    const roi = (roiId: string, attention: number[], valid: number[]): RoiExplanation => ({
      roiId,
      slices: new Float32Array(attention.length * s * s).map((_, i) => Math.cos(i)),
      depth: attention.length,
      size: s,
      valid,
      sliceAttention: attention,
    });
    // Per-ROI scaling would draw A's 0.4 and B's 0.5 both full height; one scale keeps ratios.
    const a = roi('qsm-bg', [0.1, 0.2, 0.3, 0.4], [1, 1, 1, 1]);
    const b = roi('qsm-mb', [0.1, 0.2, 0.5, 0.1, 0.1, 0], [1, 1, 1, 1, 1, 0]);
    const svg = caseExplanationSvg({ caseId: 'RJPD_007', probPd: 0.7, rois: [a, b] });
    const img = rasterise(svg, 'case-explanation.png');
    // The grey bar frames, in drawing order: ROI a's slices, then ROI b's.
    const frames = [
      ...svg.matchAll(
        /<rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)" fill="#f2f2f2"\/>/g,
      ),
    ].map((m) => ({ x: Number(m[1]), y: Number(m[2]), w: Number(m[3]), h: Number(m[4]) }));
    expect(frames).toHaveLength(10);
    const bar = hex('#0072B2');
    const bg = hex('#f2f2f2');
    /** Bar height in pixels: per row, the largest coverage of the bar colour in any column. */
    const barHeight = (f: (typeof frames)[number]): number => {
      let h = 0;
      for (let y = Math.floor(f.y); y < Math.ceil(f.y + f.h); y++) {
        let best = 0;
        for (let x = Math.ceil(f.x) + 1; x < Math.floor(f.x + f.w) - 1; x++) {
          const [r, g, bl] = rgbAt(img, x, y);
          // Coverage from the blend between background and bar colour (other colours score low).
          const cover = (bg[0] - r) / (bg[0] - bar[0]);
          if (near([r, g, bl], bar, 40) || (cover > 0 && cover < 1 && Math.abs(bl - bg[2]) < 40)) {
            best = Math.max(best, Math.min(1, cover));
          }
        }
        h += best;
      }
      return h;
    };
    const heights = frames.map(barHeight);
    const [a1, a2, a3, a4, b1, b2, b3, , , bPad] = heights as number[];
    const full = frames[0]!.h; // scale top is niceCeil(0.5) = 0.5
    expect(b3!).toBeCloseTo(full, 0);
    expect(a4! / b2!).toBeCloseTo(2, 1); // 0.4 vs 0.2 across ROIs
    expect(a2! / b1!).toBeCloseTo(2, 1); // 0.2 vs 0.1 across ROIs
    expect(a2! / a1!).toBeCloseTo(2, 1);
    expect(Math.abs(a3! - 0.6 * full)).toBeLessThan(1);
    expect(bPad).toBe(0);
    // The uniform-weight line: 1/4 for ROI a, 1/5 for ROI b, on the same scale.
    const orange = hex('#D55E00');
    const markerRow = (f: (typeof frames)[number]): number => {
      const rows: number[] = [];
      for (let y = Math.floor(f.y) - 1; y < Math.ceil(f.y + f.h) + 1; y++) {
        for (let x = Math.ceil(f.x); x < Math.floor(f.x + f.w); x++) {
          if (near(rgbAt(img, x, y), orange, 60)) {
            rows.push(y);
            break;
          }
        }
      }
      expect(rows.length).toBeGreaterThan(0);
      return rows.reduce((p, q) => p + q, 0) / rows.length + 0.5;
    };
    const base = frames[0]!.y + full;
    expect(Math.abs(base - markerRow(frames[0]!) - (0.25 / 0.5) * full)).toBeLessThan(1);
    expect(Math.abs(frames[4]!.y + full - markerRow(frames[4]!) - (0.2 / 0.5) * full)).toBeLessThan(1);
  });
});
