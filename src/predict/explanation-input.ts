/**
 * From a prediction to the case-explanation figure: the figure (`caseExplanationSvg` in `mrn/plots`)
 * takes plain arrays so it does not depend on the model; this is the one place that maps a
 * prediction's per-ROI details onto it, for the CLI's `mrn explain`, the web page and users' code.
 */

import type { CaseExplanationInput } from '../plots/case-explanation.js';
import type { MrnCasePrediction } from './mrn-ensemble.js';

/**
 * The input of `caseExplanationSvg` for a prediction made with `{ explain: true }` (without it the
 * figure has no ROI rows): each ROI's slices, validity, slice attention, predicted segmentation and
 * masks, plus the ROI attention and P(PD).
 *
 * @example
 * ```ts
 * import { caseExplanationSvg } from 'mrn/plots';
 * const p = await mrn.predictCase('PDCAD/test/RJPD_301', { explain: true });
 * const svg = caseExplanationSvg(explanationInput(p));
 * ```
 */
export function explanationInput(p: MrnCasePrediction): CaseExplanationInput {
  return {
    caseId: p.caseId,
    probPd: p.probPd,
    roiAttention: p.roiAttention,
    rois: (p.details ?? []).map((d) => ({
      roiId: d.roiId,
      slices: d.slices,
      depth: d.depth,
      size: d.size,
      valid: d.valid,
      sliceAttention: p.sliceAttention[d.roiId]!,
      predicted: d.predicted,
      truth: d.masks,
      classNames: d.classNames,
    })),
  };
}
