/**
 * `mrn/plots`: dependency-free SVG figures (training curves, ROC curves, a case's explanation) and a
 * minimal PNG encoder for embedding image tiles in them.
 *
 * @example
 * ```ts
 * import { rocCurve } from 'mrn';
 * import { rocSvg } from 'mrn/plots';
 * writeFileSync('roc.svg', rocSvg([{ name: 'MRN', points: rocCurve([0, 1, 1, 0], [0.2, 0.9, 0.6, 0.4]) }]));
 * ```
 *
 * @packageDocumentation
 * @module mrn/plots
 */

export { linePanel, svgDocument, type LinePanelOptions, type Series } from './svg.js';
export { encodePngRgb, pngDataUri } from './png.js';
export * from './training-curves.js';
export * from './roc-plot.js';
export * from './case-explanation.js';
