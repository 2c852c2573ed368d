/**
 * Prediction files in the challenge's submission format. `pred.csv` is exactly `case,pred` with 0/1
 * (1 = PD), one line per successfully processed case; `pred.details.csv` beside it lists every case,
 * failed ones included, with the PD probability, a status and the error, so no case is ever silently
 * lost from a submission.
 */

import fs from 'node:fs';
import path from 'node:path';
import { MrnError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic-write.js';

/** One case's outcome. */
export interface CasePredictionRow {
  /** Case id (folder name, e.g. `RJPD_201`). */
  caseId: string;
  /** `ok` or `failed`. */
  status: 'ok' | 'failed';
  /** Predicted class (0 = HC, 1 = PD); absent when failed. */
  pred?: 0 | 1;
  /** Probability of PD; absent when failed. */
  probPd?: number;
  /** Why the case failed (error code and message); absent when ok. */
  error?: string;
}

/** Quotes a CSV field when it holds a comma, quote or line break (RFC 4180). */
export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** The path of the details file beside a `pred.csv` (`pred.csv` -> `pred.details.csv`). */
export function detailsPathFor(predPath: string): string {
  const ext = path.extname(predPath);
  return ext ? `${predPath.slice(0, -ext.length)}.details${ext}` : `${predPath}.details.csv`;
}

/**
 * Writes `predPath` (`case,pred`, ok cases only, in the given order) and its details file
 * (`case,pred,prob_pd,status,error`, every case). Returns the details path.
 */
export function writePredictionCsv(predPath: string, rows: readonly CasePredictionRow[]): string {
  for (const r of rows) {
    if (r.status === 'ok' && (r.pred === undefined || r.probPd === undefined)) {
      throw new MrnError('E_INTERNAL', `writePredictionCsv: case ${r.caseId} is ok but has no prediction`);
    }
  }
  fs.mkdirSync(path.dirname(path.resolve(predPath)), { recursive: true });
  const ok = rows.filter((r) => r.status === 'ok');
  writeFileAtomic(
    predPath,
    ['case,pred', ...ok.map((r) => `${csvField(r.caseId)},${r.pred}`)].join('\n') + '\n',
  );
  const details = detailsPathFor(predPath);
  const lines = rows.map((r) =>
    [
      csvField(r.caseId),
      r.pred ?? '',
      r.probPd === undefined ? '' : r.probPd.toFixed(6),
      r.status,
      csvField((r.error ?? '').replace(/\s+/g, ' ').trim()),
    ].join(','),
  );
  writeFileAtomic(details, ['case,pred,prob_pd,status,error', ...lines].join('\n') + '\n');
  return details;
}
