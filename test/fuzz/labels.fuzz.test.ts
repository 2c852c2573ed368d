import fc from 'fast-check';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPdcadCases } from '../../src/pdcad/load-cases.js';
import { parsePdcadLabels } from '../../src/pdcad/labels-csv.js';
import {
  byteMutation,
  decodeOrMrnError,
  decodeOrMrnErrorAsync,
  fuzzParams,
  fuzzTimeout,
  mutate,
} from './fuzz-support.js';

// The labels CSV is typed by people: every input parses (bad rows become problems naming the file and
// line), no accepted label is anything but a small non-negative integer, and nothing hangs.

const cell = fc.oneof(
  fc.constantFrom(
    '0',
    '1',
    '2',
    '-1',
    '1.0',
    '1.5',
    '1e300',
    '1e2',
    'NaN',
    'Infinity',
    '0x1',
    '',
    ' ',
    '"1"',
    '"',
    'PD',
    'HC',
  ),
  fc.string({ maxLength: 8 }),
  fc.stringMatching(/^RJPD_\d{3}$/),
);
const row = fc
  .array(cell, { minLength: 0, maxLength: 4 })
  .chain((cells) => fc.constantFrom(',', ';', '\t', ', ').map((sep) => cells.join(sep)));
const csv = fc
  .tuple(
    fc.constantFrom(
      '',
      'case,label',
      'label,case',
      'id;label',
      '\uFEFFcase,label',
      'subject\tlabel',
      '# comment',
    ),
    fc.array(row, { maxLength: 12 }),
    fc.constantFrom('\n', '\r\n', '\r'),
  )
  .map(([header, rows, eol]) => [header, ...rows].join(eol));

function check(text: string, file: string): void {
  const r = decodeOrMrnError(() => parsePdcadLabels(text, file), file, []);
  if (!r) return;
  for (const [id, label] of r.labels) {
    expect(id.length).toBeGreaterThan(0);
    expect(label === 0 || label === 1, `label ${label} of ${id}`).toBe(true);
  }
  for (const p of r.problems) {
    expect(p.reason.startsWith(`${file}:${p.row}:`), p.reason).toBe(true);
    expect(Number.isInteger(p.row) && p.row >= 1, p.reason).toBe(true);
  }
}

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mrn-fuzz-labels-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('labels CSV under fuzzing', () => {
  it('structured CSV with hostile cells, separators, headers and line ends', () => {
    fc.assert(
      fc.property(csv, (text) => check(text, 'labels.csv')),
      fuzzParams(2000),
    );
  });

  it('arbitrary text, and byte damage of a valid CSV', () => {
    const valid = Array.from(
      { length: 40 },
      (_, i) => `RJPD_${String(i + 1).padStart(3, '0')},${i % 2}`,
    ).join('\n');
    const bytes = new TextEncoder().encode(`case,label\n${valid}\n`);
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 200, unit: 'binary' }),
          byteMutation(bytes.length, [0, 10, 11, bytes.length - 1]).map((m) =>
            new TextDecoder().decode(mutate(bytes, m)),
          ),
        ),
        (text) => check(text, 'labels.csv'),
      ),
      fuzzParams(2000),
    );
  });

  it(
    'loadPdcadCases reports a damaged labels file per row, naming it',
    async () => {
      const labels = path.join(dir, 'labels.csv');
      await fc.assert(
        fc.asyncProperty(csv, async (text) => {
          fs.writeFileSync(labels, text);
          const cohort = await decodeOrMrnErrorAsync(() => loadPdcadCases(dir, { labels }), labels, []);
          for (const p of cohort!.problems)
            if (p.reason.startsWith(`${labels}:`)) expect(p.file).toBe(labels);
        }),
        fuzzParams(100),
      );
    },
    fuzzTimeout(100, 50),
  );
});
