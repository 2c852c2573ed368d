/** ROC curves with their AUC in the legend, and the chance diagonal. */

import { MrnError } from '../errors.js';
import { areaUnderCurve, type RocPoint } from '../train/metrics.js';
import { legendHeight, linePanel, svgDocument } from './svg.js';

/** One curve of {@link rocSvg}. */
export interface RocCurveInput {
  /** Legend name (e.g. `MRN (pooled CV)`). */
  name: string;
  /** Points from {@link mrn!rocCurve}. */
  points: readonly RocPoint[];
}

/** An ROC figure of one or more curves (AUC shown in each legend entry) as an SVG document. */
export function rocSvg(curves: readonly RocCurveInput[], title = 'ROC'): string {
  if (curves.length === 0) throw new MrnError('E_INVALID_ARGUMENT', 'rocSvg: no curves to plot');
  // The legend goes under the square plot, so the figure grows by one row per curve.
  const height = 420 + legendHeight(curves.length);
  const panel = linePanel({
    title,
    xLabel: 'false positive rate (1 - specificity)',
    yLabel: 'true positive rate (sensitivity)',
    width: 420,
    height,
    xRange: [0, 1],
    yRange: [0, 1],
    legend: 'below',
    series: curves.map((c) => ({
      name: `${c.name} (AUC ${areaUnderCurve(c.points).toFixed(3)})`,
      points: c.points.map((p) => [p.fpr, p.tpr] as [number, number]),
    })),
    underlay: (sx, sy) =>
      `<line x1="${sx(0)}" y1="${sy(0)}" x2="${sx(1)}" y2="${sy(1)}" stroke="#999" stroke-dasharray="3,3"/>`,
  });
  return svgDocument(420, height, panel);
}
