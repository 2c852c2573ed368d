/**
 * Training curves from the JSON epoch log: losses (training solid, validation dashed) on the left,
 * validation accuracy and AUC on the right; one colour per cross-validation fold.
 */

import { MrnError } from '../errors.js';
import type { EpochRecord } from '../train/epoch-log.js';
import { linePanel, minHeightForRightLegend, PALETTE, type Series, svgDocument } from './svg.js';

/** The training-curves figure of `records` (e.g. {@link mrn!readEpochLog}'s result) as an SVG document. */
export function trainingCurvesSvg(records: readonly EpochRecord[], title = 'MRN training'): string {
  if (records.length === 0)
    throw new MrnError('E_INVALID_ARGUMENT', 'trainingCurvesSvg: no epoch records to plot');
  const folds = [...new Set(records.map((r) => r.fold ?? -1))].sort((a, b) => a - b);
  const lossSeries: Series[] = [];
  const metricSeries: Series[] = [];
  folds.forEach((fold, i) => {
    const rs = records.filter((r) => (r.fold ?? -1) === fold).sort((a, b) => a.epoch - b.epoch);
    const tag = fold < 0 ? '' : `fold ${fold + 1} `;
    const color = PALETTE[i % PALETTE.length]!;
    lossSeries.push({ name: `${tag}train loss`, color, points: rs.map((r) => [r.epoch, r.trainLoss]) });
    if (rs.some((r) => typeof r.val?.loss === 'number')) {
      lossSeries.push({
        name: `${tag}val loss`,
        color,
        dashed: true,
        points: rs.map((r) => [r.epoch, r.val?.loss ?? NaN]),
      });
    }
    if (rs.some((r) => typeof r.val?.accuracy === 'number')) {
      metricSeries.push({
        name: `${tag}val accuracy`,
        color,
        points: rs.map((r) => [r.epoch, r.val?.accuracy ?? NaN]),
      });
    }
    if (rs.some((r) => typeof r.val?.auc === 'number')) {
      metricSeries.push({
        name: `${tag}val AUC`,
        color,
        dashed: true,
        points: rs.map((r) => [r.epoch, r.val?.auc ?? NaN]),
      });
    }
  });
  // Each panel is a 380 px wide plot plus its legend column on the right, outside the plot area.
  const panelWidth = 560;
  // Many folds make long legends: the figure grows so that every entry fits beside its plot.
  const height = Math.max(300, minHeightForRightLegend(Math.max(lossSeries.length, metricSeries.length)));
  const left = linePanel({
    title: `${title}: loss`,
    xLabel: 'epoch',
    yLabel: 'objective',
    series: lossSeries,
    width: panelWidth,
    height,
  });
  const right =
    metricSeries.length > 0
      ? linePanel({
          title: 'validation metrics',
          xLabel: 'epoch',
          yLabel: 'accuracy / AUC',
          series: metricSeries,
          yRange: [0, 1],
          x: panelWidth,
          width: panelWidth,
          height,
        })
      : '';
  return svgDocument(metricSeries.length > 0 ? 2 * panelWidth : panelWidth, height, left + right);
}
