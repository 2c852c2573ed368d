/**
 * The JSON log of a training run: one JSON object per line (JSON Lines), one line per epoch, appended
 * as each epoch ends, so a crashed or running job's log is still readable and plots can be redrawn.
 */

import fs from 'node:fs';
import path from 'node:path';
import { MrnError } from '../errors.js';
import { writeError } from '../io/atomic-write.js';

/** One epoch's record. Extra keys are allowed (per-ROI Dice, learning rate, timings). */
export interface EpochRecord {
  /** 1-based epoch number. */
  epoch: number;
  /** Fold index in cross-validation, if any. */
  fold?: number;
  /** Mean training objective over the epoch. */
  trainLoss: number;
  /** Validation metrics, when a validation set exists. */
  val?: Record<string, number>;
  [key: string]: unknown;
}

/** Appends {@link EpochRecord}s to a JSON Lines file (created with its folder if needed). */
export class EpochLog {
  constructor(readonly file: string) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
  }

  /** Appends one record as a line. */
  append(record: EpochRecord): void {
    try {
      fs.appendFileSync(this.file, `${JSON.stringify(record)}\n`);
    } catch (error) {
      throw writeError(this.file, error);
    }
  }
}

function isJson(line: string): boolean {
  try {
    JSON.parse(line);
    return true;
  } catch {
    return false;
  }
}

/** Reads a JSON Lines epoch log (a torn last line, left by a crash mid-append, is ignored). Throws `E_FILE_NOT_FOUND` or `E_INVALID_ARGUMENT` naming the bad line. */
export function readEpochLog(file: string): EpochRecord[] {
  if (!fs.existsSync(file)) throw new MrnError('E_FILE_NOT_FOUND', 'epoch log not found', { file });
  const text = fs.readFileSync(file, 'utf8');
  const lines = text.split('\n');
  const out: EpochRecord[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    // A last line without its newline is an append a crash cut short: that epoch never finished
    // (its checkpoint was not written), so the record is dropped, not an error.
    if (i === lines.length - 1 && !isJson(line)) return;
    try {
      const rec = JSON.parse(line) as EpochRecord;
      if (typeof rec.epoch !== 'number') throw new Error('no numeric "epoch"');
      out.push(rec);
    } catch (error) {
      throw new MrnError(
        'E_INVALID_ARGUMENT',
        `epoch log line ${i + 1} is not an epoch record: ${(error as Error).message}`,
        {
          file,
        },
      );
    }
  });
  return out;
}
