import { describe, expect, it } from 'vitest';
import { rocSvg } from '../../src/plots/roc-plot.js';
import { rocCurve } from '../../src/train/metrics.js';
import { expectWellFormed } from './helpers/svg-checks.js';

describe('figures', () => {
  it('ROC: AUC in the legend and the chance diagonal', () => {
    const labels = [0, 0, 1, 1, 0, 1];
    const scores = [0.1, 0.4, 0.35, 0.8, 0.2, 0.9];
    const svg = rocSvg([{ name: 'MRN & co', points: rocCurve(labels, scores) }]);
    expectWellFormed(svg);
    expect(svg).toContain('MRN &amp; co (AUC 0.889)');
    expect(svg).toContain('stroke-dasharray="3,3"');
    expect(() => rocSvg([])).toThrow(/no curves/);
  });
});
