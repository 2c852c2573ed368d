/**
 * The figure as a person sees it: the SVG is rasterised (resvg) and the assertions are on pixels
 * (helpers/raster.ts). Set MRN_PLOT_PNG_DIR to keep the PNGs for a look.
 */

import { describe, expect, it } from 'vitest';
import { rocSvg } from '../../src/plots/roc-plot.js';
import { PALETTE } from '../../src/plots/svg.js';
import { rocCurve } from '../../src/train/metrics.js';
import { curvePixels, legendBoxes, rasterise, withoutLegends } from './helpers/raster.js';

describe('figures rendered to PNG', () => {
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
});
