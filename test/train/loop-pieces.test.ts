import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createRng, MrnError } from '../../src/index.js';
import { classBalancedBatches } from '../../src/train/balanced-sampler.js';
import { EarlyStopping } from '../../src/train/early-stopping.js';
import { EpochLog, readEpochLog } from '../../src/train/epoch-log.js';
import { formatDuration, ProgressBar } from '../../src/train/progress.js';
import { cosineWithWarmup } from '../../src/train/schedule.js';

describe('cosineWithWarmup', () => {
  it('warms up linearly, peaks, and decays by a half cosine to the floor', () => {
    const lr = cosineWithWarmup({ peak: 1e-3, totalSteps: 110, warmupSteps: 10, minFraction: 0.1 });
    expect(lr(0)).toBeCloseTo(1e-4, 12);
    expect(lr(4)).toBeCloseTo(5e-4, 12);
    expect(lr(9)).toBeCloseTo(1e-3, 12);
    expect(lr(10)).toBeCloseTo(1e-3, 12);
    // Half way through the decay: the mean of peak and floor.
    const mid = 10 + (100 - 1) / 2;
    expect(lr(mid)).toBeCloseTo((1e-3 + 1e-4) / 2, 12);
    expect(lr(109)).toBeCloseTo(1e-4, 12);
    expect(lr(500)).toBeCloseTo(1e-4, 12);
    for (let s = 11; s < 110; s++) expect(lr(s)).toBeLessThanOrEqual(lr(s - 1));
  });

  it('rejects inconsistent settings', () => {
    expect(() => cosineWithWarmup({ peak: 0, totalSteps: 10 })).toThrow(MrnError);
    expect(() => cosineWithWarmup({ peak: 1, totalSteps: 10, warmupSteps: 11 })).toThrow(/warmupSteps/);
    expect(() => cosineWithWarmup({ peak: 1, totalSteps: 1.5 })).toThrow(/totalSteps/);
    expect(() => cosineWithWarmup({ peak: 1, totalSteps: 5, minFraction: 2 })).toThrow(/minFraction/);
  });
});

describe('classBalancedBatches', () => {
  it('puts >= 2 of each class in every batch, covers every case, never repeats within a batch', () => {
    const rng = createRng(7);
    for (const [nPos, nNeg, bs] of [
      [10, 10, 8],
      [3, 17, 6],
      [25, 4, 4],
      [2, 2, 16],
      [13, 7, 5],
    ] as const) {
      const labels = [...Array(nPos).fill(1), ...Array(nNeg).fill(0)];
      rng.shuffle(labels);
      const batches = classBalancedBatches(labels, rng, { batchSize: bs });
      const seen = new Set<number>();
      for (const b of batches) {
        expect(new Set(b).size).toBe(b.length);
        expect(b.length).toBeLessThanOrEqual(bs);
        expect(b.filter((i) => labels[i] === 1).length).toBeGreaterThanOrEqual(2);
        expect(b.filter((i) => labels[i] === 0).length).toBeGreaterThanOrEqual(2);
        b.forEach((i) => seen.add(i));
      }
      expect(seen.size).toBe(labels.length);
    }
  });

  it('is deterministic for a seed and differs across seeds', () => {
    const labels = Array.from({ length: 30 }, (_, i) => i % 2);
    const a = classBalancedBatches(labels, createRng(1), { batchSize: 8 });
    const b = classBalancedBatches(labels, createRng(1), { batchSize: 8 });
    const c = classBalancedBatches(labels, createRng(2), { batchSize: 8 });
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
  });

  it('refuses a class with fewer than two cases, tiny batches and bad labels', () => {
    expect(() => classBalancedBatches([1, 0, 0, 0], createRng(1), { batchSize: 4 })).toThrow(/1 PD and 3 HC/);
    expect(() => classBalancedBatches([1, 1, 0, 0], createRng(1), { batchSize: 3 })).toThrow(/batchSize/);
    expect(() => classBalancedBatches([1, 1, 0, 2], createRng(1), { batchSize: 4 })).toThrow(/not 0 or 1/);
  });
});

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

describe('ProgressBar', () => {
  function fakeStream(isTTY: boolean) {
    const chunks: string[] = [];
    return { chunks, stream: { isTTY, write: (c: string) => chunks.push(c) } };
  }

  it('prints plain lines at most every 10% when not a terminal, with ETA', () => {
    let t = 0;
    const { chunks, stream } = fakeStream(false);
    const bar = new ProgressBar({ total: 100, label: 'features', stream, now: () => t });
    for (let i = 0; i < 100; i++) {
      t += 500;
      bar.tick(1, 'loss 0.5');
    }
    bar.done();
    expect(chunks.length).toBeLessThanOrEqual(12);
    expect(chunks.every((c) => c.endsWith('\n') && !c.includes('\r'))).toBe(true);
    expect(chunks[0]).toBe('features   1% 1/100 0:01 elapsed, ETA 0:50 loss 0.5\n');
    expect(chunks.at(-1)).toBe('features 100% 100/100 0:50 total\n');
  });

  it('redraws one line on a terminal', () => {
    let t = 0;
    const { chunks, stream } = fakeStream(true);
    const bar = new ProgressBar({ total: 4, label: 'epoch 1/3', stream, now: () => t, width: 8 });
    t = 1000;
    bar.tick();
    expect(chunks[0]).toBe('\repoch 1/3 [##......]  25% 1/4 0:01 elapsed, ETA 0:03\u001b[K');
    bar.done();
    expect(chunks.at(-1)!.endsWith('\n')).toBe(true);
    expect(chunks).toHaveLength(2);
  });

  it('formats durations', () => {
    expect(formatDuration(65)).toBe('1:05');
    expect(formatDuration(3723)).toBe('1:02:03');
    expect(formatDuration(NaN)).toBe('?');
    expect(() => new ProgressBar({ total: -1, label: 'x' })).toThrow(MrnError);
  });
});

describe('EpochLog', () => {
  it('appends one JSON line per epoch and reads them back', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mrn-log-'));
    const file = path.join(dir, 'sub', 'epochs.jsonl');
    const log = new EpochLog(file);
    log.append({ epoch: 1, trainLoss: 1.5, val: { accuracy: 0.5 } });
    log.append({ epoch: 2, trainLoss: 1.2, val: { accuracy: 0.6 }, lr: 1e-3 });
    const lines = fs.readFileSync(file, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(readEpochLog(file)).toEqual([
      { epoch: 1, trainLoss: 1.5, val: { accuracy: 0.5 } },
      { epoch: 2, trainLoss: 1.2, val: { accuracy: 0.6 }, lr: 1e-3 },
    ]);
    fs.appendFileSync(file, '{broken\n');
    expect(() => readEpochLog(file)).toThrow(/line 3/);
    expect(() => readEpochLog(path.join(dir, 'none.jsonl'))).toThrow(
      expect.objectContaining({ code: 'E_FILE_NOT_FOUND' }),
    );
    fs.rmSync(dir, { recursive: true });
  });
});
