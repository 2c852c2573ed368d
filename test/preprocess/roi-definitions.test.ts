import { describe, expect, it } from 'vitest';
import {
  getMrnRoi,
  MRN_ROIS,
  MrnError,
  roiClassMirror,
  roiLabelToClass,
  roiWithSeparateSides,
  validateRoi,
  type RoiDefinition,
} from '../../src/index.js';
import { thrownBy } from '../helpers/errors.js';

describe('MRN_ROIS', () => {
  it('defines the four MRN ROIs in model order, each valid', () => {
    expect(MRN_ROIS.map((r) => r.id)).toEqual(['nm-sn', 'qsm-bg', 'qsm-mb', 'qsm-dn']);
    expect(MRN_ROIS.map((r) => r.image)).toEqual(['NM', 'QSM', 'QSM', 'QSM']);
    expect(MRN_ROIS.map((r) => r.slices)).toEqual([8, 20, 10, 8]);
    expect(getMrnRoi('qsm-bg').classes.map((c) => c.name)).toEqual(['background', 'CN', 'PUT', 'GP', 'THA']);
    for (const roi of MRN_ROIS) expect(validateRoi(roi)).toBe(roi);
    expect(() => getMrnRoi('qsm-xx')).toThrow(/unknown ROI id 'qsm-xx'/);
  });

  it('maps labels to merged classes; merged classes mirror onto themselves, split ones swap', () => {
    const mb = getMrnRoi('qsm-mb');
    const lut = roiLabelToClass(mb);
    expect([9, 10, 11, 12, 13, 14, 1, 16].map((l) => lut[l])).toEqual([1, 1, 2, 2, 3, 3, 0, 0]);
    expect([...roiClassMirror(mb)]).toEqual([0, 1, 2, 3]);
    const split = roiWithSeparateSides(mb);
    expect(split.classes.map((c) => c.name)).toEqual([
      'background',
      'STN-R',
      'STN-L',
      'SN-R',
      'SN-L',
      'RN-R',
      'RN-L',
    ]);
    expect([...roiClassMirror(split)]).toEqual([0, 2, 1, 4, 3, 6, 5]);
  });

  it('rejects inconsistent user ROIs with E_CONFIG naming the field', () => {
    const base = getMrnRoi('qsm-dn');
    const bad = (patch: Partial<RoiDefinition>) => () => validateRoi({ ...base, ...patch } as RoiDefinition);
    expect(bad({ image: 'T1' as never })).toThrow(/image must be/);
    expect(bad({ slices: 0 })).toThrow(/slices must be a positive integer/);
    expect(bad({ labels: [] })).toThrow(/labels must be a non-empty/);
    expect(
      bad({
        classes: [
          { name: 'background', labels: [] },
          { name: 'DN', labels: [15] },
        ],
      }),
    ).toThrow(/label 16 is in no class/);
    expect(
      bad({
        classes: [
          { name: 'DN', labels: [15, 16] },
          { name: 'x', labels: [15] },
        ],
      }),
    ).toThrow(/class 0 must be background/);
    expect(bad({ marginMm: [1, 2] as never })).toThrow(/marginMm/);
    expect(bad({ lrPairs: [[15, 3]] })).toThrow(/lrPairs/);
    const caught = thrownBy(() => validateRoi({ ...base, slices: -1 }));
    expect(caught).toBeInstanceOf(MrnError);
    expect((caught as MrnError).code).toBe('E_CONFIG');
  });
});
