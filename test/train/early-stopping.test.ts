import { describe, expect, it } from 'vitest';
import { EarlyStopping } from '../../src/train/early-stopping.js';

describe('EarlyStopping', () => {
  it('tracks the best epoch and stops after `patience` epochs without improvement', () => {
    const es = new EarlyStopping({ mode: 'max', patience: 2, minDelta: 0.01 });
    expect(es.update(0.5, 1)).toEqual({ improved: true, stop: false });
    expect(es.update(0.505, 2)).toEqual({ improved: false, stop: false }); // below minDelta
    expect(es.update(0.6, 3)).toEqual({ improved: true, stop: false });
    expect(es.update(NaN, 4)).toEqual({ improved: false, stop: false });
    expect(es.update(0.59, 5)).toEqual({ improved: false, stop: true });
    expect(es.best).toBe(0.6);
    expect(es.bestEpoch).toBe(3);
    const resumed = new EarlyStopping({ mode: 'max', patience: 2 }, es.state());
    expect(resumed.bestEpoch).toBe(3);
    const min = new EarlyStopping({ mode: 'min', patience: 1 });
    min.update(1, 1);
    expect(min.update(0.5, 2).improved).toBe(true);
    expect(min.update(0.7, 3).stop).toBe(true);
  });

  it('rejects bad options', () => {
    expect(() => new EarlyStopping({ patience: 0 })).toThrow(/patience/);
    expect(() => new EarlyStopping({ mode: 'up' as 'max' })).toThrow(/mode/);
    expect(() => new EarlyStopping({ minDelta: -1 })).toThrow(/minDelta/);
  });
});
