/**
 * The figure as a person sees it: the SVG is rasterised (resvg) and the assertions are on pixels
 * (helpers/raster.ts). Set MRN_PLOT_PNG_DIR to keep the PNGs for a look.
 */

import { describe, expect, it } from 'vitest';
import { PALETTE } from '../../src/plots/svg.js';
import { trainingCurvesSvg } from '../../src/plots/training-curves.js';
import type { EpochRecord } from '../../src/train/epoch-log.js';
import { curvePixels, legendBoxes, rasterise, withoutLegends } from './helpers/raster.js';

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
});
