import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../../src/io/atomic-write.js';
import { EpochLog, readEpochLog } from '../../src/train/epoch-log.js';

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

  it('an epoch log whose last append was cut by a crash reads without that line', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mrn-log-'));
    const file = path.join(dir, 'epochs.jsonl');
    writeFileAtomic(file, '{"epoch":1,"trainLoss":0.5}\n{"epoch":2,"trai');
    expect(readEpochLog(file).map((r) => r.epoch)).toEqual([1]);
    fs.writeFileSync(file, '{"epoch":1,"trai\n{"epoch":2,"trainLoss":0.5}\n');
    expect(() => readEpochLog(file)).toThrow(expect.objectContaining({ code: 'E_INVALID_ARGUMENT' }));
    fs.rmSync(dir, { recursive: true });
  });
});
