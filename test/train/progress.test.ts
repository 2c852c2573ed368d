import { describe, expect, it } from 'vitest';
import { MrnError } from '../../src/index.js';
import { formatDuration, ProgressBar } from '../../src/train/progress.js';

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
