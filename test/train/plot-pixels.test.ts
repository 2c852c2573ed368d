/**
 * The figures as a person sees them: each SVG is rasterised (resvg, a real SVG renderer) and the
 * assertions are on pixels. Set MRN_PLOT_PNG_DIR to keep the PNGs for a look.
 */

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import { describe, expect, it } from 'vitest';
import { caseExplanationSvg, type RoiExplanation } from '../../src/plots/case-explanation.js';
import { rocSvg } from '../../src/plots/roc-plot.js';
import { PALETTE } from '../../src/plots/svg.js';
import { trainingCurvesSvg } from '../../src/plots/training-curves.js';
import type { EpochRecord } from '../../src/train/epoch-log.js';
import { rocCurve } from '../../src/train/metrics.js';

interface Raster {
  width: number;
  height: number;
  /** RGBA, row-major. */
  pixels: Uint8Array;
}

function rasterise(svg: string, keepAs?: string): Raster {
  const r = new Resvg(svg, { font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' } });
  const img = r.render();
  const dir = process.env.MRN_PLOT_PNG_DIR;
  if (dir && keepAs) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, keepAs), img.asPng());
  }
  return { width: img.width, height: img.height, pixels: new Uint8Array(img.pixels) };
}

function rgbAt(r: Raster, x: number, y: number): [number, number, number] {
  const i = (y * r.width + x) * 4;
  return [r.pixels[i]!, r.pixels[i + 1]!, r.pixels[i + 2]!];
}

function hex(c: string): [number, number, number] {
  const n = parseInt(c.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

function near(a: readonly number[], b: readonly number[], tol: number): boolean {
  return Math.abs(a[0]! - b[0]!) <= tol && Math.abs(a[1]! - b[1]!) <= tol && Math.abs(a[2]! - b[2]!) <= tol;
}

interface Box {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** The figure without its legends (every `<g class="legend">` removed). */
function withoutLegends(svg: string): string {
  const out = svg.replace(/<g class="legend">[\s\S]*?<\/g>/g, '');
  expect(out).not.toBe(svg);
  return out;
}

/**
 * Where the legends are, found from pixels: the bounding boxes of the pixels that change when the
 * legends are removed, one box per horizontal band `[from, to)` of x.
 */
function legendBoxes(full: Raster, bare: Raster, bands: Array<[number, number]>): Box[] {
  return bands.map(([from, to]) => {
    const box: Box = { x0: Infinity, y0: Infinity, x1: -Infinity, y1: -Infinity };
    for (let y = 0; y < full.height; y++) {
      for (let x = from; x < to; x++) {
        if (near(rgbAt(full, x, y), rgbAt(bare, x, y), 0)) continue;
        box.x0 = Math.min(box.x0, x);
        box.y0 = Math.min(box.y0, y);
        box.x1 = Math.max(box.x1, x);
        box.y1 = Math.max(box.y1, y);
      }
    }
    return box;
  });
}

/** Pixels of `bare` (the figure without legends) in one of `colors`, i.e. drawn curves. */
function curvePixels(bare: Raster, colors: string[], inside?: Box): number {
  const rgbs = colors.map(hex);
  let n = 0;
  for (let y = 0; y < bare.height; y++) {
    for (let x = 0; x < bare.width; x++) {
      if (inside && (x < inside.x0 || x > inside.x1 || y < inside.y0 || y > inside.y1)) continue;
      const px = rgbAt(bare, x, y);
      if (rgbs.some((c) => near(px, c, 40))) n++;
    }
  }
  return n;
}

describe('figures rendered to PNG', () => {
  it.each([5, 10])(
    'training curves, %i folds: the legends hold no curve pixels and fit the figure, though curves start top-left and end top-right',
    (nFolds) => {
      // Losses start high at epoch 1 (top-left, where the legend used to sit) and metrics end near 1
      // (top-right); five folds make long legends.
      const records: EpochRecord[] = [];
      for (let fold = 0; fold < nFolds; fold++) {
        for (let epoch = 1; epoch <= 12; epoch++) {
          records.push({
            epoch,
            fold,
            trainLoss: 2 / epoch + 0.05 * fold,
            val: { loss: 2.1 / epoch + 0.1, accuracy: 1 - 0.5 / epoch, auc: 1 - 0.4 / epoch - 0.01 * fold },
          });
        }
      }
      const svg = trainingCurvesSvg(records);
      const full = rasterise(svg, `training-curves-${nFolds}-folds.png`);
      const bare = rasterise(withoutLegends(svg));
      const half = full.width / 2;
      const boxes = legendBoxes(full, bare, [
        [0, half],
        [half, full.width],
      ]);
      const colors = PALETTE.slice(0, Math.min(nFolds, PALETTE.length));
      expect(curvePixels(bare, colors)).toBeGreaterThan(2000); // the curves are drawn
      for (const box of boxes) {
        expect(box.x1 - box.x0).toBeGreaterThan(80); // a legend is there (2 entries a fold)
        expect(box.y1 - box.y0).toBeGreaterThan(2 * nFolds * 12);
        expect(box.y1).toBeLessThan(full.height - 2); // the last entry is inside the figure
        expect(curvePixels(bare, colors, box)).toBe(0);
      }
    },
  );

  it('ROC: the legend holds no curve pixels', () => {
    const labels = Array.from({ length: 40 }, (_, i) => i % 2);
    const good = labels.map((l, i) => l * 0.6 + ((i * 37) % 11) / 20);
    const weak = labels.map((l, i) => l * 0.1 + ((i * 53) % 13) / 13);
    const svg = rocSvg([
      { name: 'MRN (pooled CV)', points: rocCurve(labels, good) },
      { name: 'logistic regression on ROI means', points: rocCurve(labels, weak) },
    ]);
    const full = rasterise(svg, 'roc.png');
    const bare = rasterise(withoutLegends(svg));
    const [box] = legendBoxes(full, bare, [[0, full.width]]);
    expect(box!.y1 - box!.y0).toBeGreaterThan(14); // two entries
    expect(curvePixels(bare, PALETTE.slice(0, 2))).toBeGreaterThan(500);
    expect(curvePixels(bare, PALETTE.slice(0, 2), box)).toBe(0);
  });

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
