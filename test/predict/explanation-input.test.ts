import { describe, expect, it } from 'vitest';
import { caseExplanationSvg } from '../../src/plots/case-explanation.js';
import { explanationInput } from '../../src/predict/explanation-input.js';
import type { MrnCasePrediction } from '../../src/predict/mrn-ensemble.js';

const D = 2;
const S = 4;
const prediction: MrnCasePrediction = {
  caseId: 'RJPD_001',
  probPd: 0.8,
  pred: 1,
  sliceAttention: { 'nm-sn': [0.25, 0.75] },
  roiAttention: { 'nm-sn': 1 },
  memberProbs: [0.7, 0.9],
  details: [
    {
      roiId: 'nm-sn',
      slices: Float32Array.from({ length: D * S * S }, (_, i) => i),
      depth: D,
      size: S,
      valid: Uint8Array.from([1, 0]),
      masks: new Int32Array(D * S * S).fill(1),
      predicted: new Int32Array(D * S * S),
      classNames: ['SN'],
    },
  ],
};

describe('explanationInput', () => {
  it("maps each ROI's details and its slice attention onto the figure's input", () => {
    const input = explanationInput(prediction);
    const d = prediction.details![0]!;
    expect(input).toMatchObject({ caseId: 'RJPD_001', probPd: 0.8, roiAttention: { 'nm-sn': 1 } });
    expect(input.rois).toHaveLength(1);
    expect(input.rois[0]).toMatchObject({ roiId: 'nm-sn', depth: D, size: S, classNames: ['SN'] });
    expect(input.rois[0]!.sliceAttention).toEqual([0.25, 0.75]);
    expect(input.rois[0]!.slices).toBe(d.slices);
    expect(input.rois[0]!.truth).toBe(d.masks);
    expect(input.rois[0]!.predicted).toBe(d.predicted);
    expect(caseExplanationSvg(input)).toContain('RJPD_001');
  });

  it('a prediction without `explain` gives a figure input with no ROI rows', () => {
    expect(explanationInput({ ...prediction, details: undefined }).rois).toEqual([]);
  });
});
