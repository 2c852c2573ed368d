import { describe, expect, it } from 'vitest';
import { trainingCurvesSvg } from '../../src/plots/training-curves.js';
import { expectWellFormed } from './helpers/svg-checks.js';

describe('figures', () => {
  it('training curves: one colour per fold, losses and validation metrics', () => {
    const records = [0, 1].flatMap((fold) =>
      [1, 2, 3].map((epoch) => ({
        epoch,
        fold,
        trainLoss: 2 / epoch + fold * 0.1,
        val: { loss: 2.2 / epoch, accuracy: 0.5 + 0.1 * epoch, auc: 0.55 + 0.1 * epoch },
      })),
    );
    const svg = trainingCurvesSvg(records);
    expectWellFormed(svg);
    expect(svg).toContain('fold 2 val accuracy');
    expect((svg.match(/<path /g) ?? []).length).toBe(8); // 2 folds x (train, val loss, acc, auc)
    expect(() => trainingCurvesSvg([])).toThrow(/no epoch records/);
    const noVal = trainingCurvesSvg([
      { epoch: 1, trainLoss: 1 },
      { epoch: 2, trainLoss: 0.5 },
    ]);
    expectWellFormed(noVal);
    expect(noVal).toContain('width="560"'); // one panel: plot plus legend column
  });
});
