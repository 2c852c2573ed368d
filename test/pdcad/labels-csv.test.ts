/** parsePdcadLabels: the `case,label` CSV as written in the wild, and every bad row returned as data. */
import { describe, expect, it } from 'vitest';
import { parsePdcadLabels } from '../../src/index.js';

describe('parsePdcadLabels', () => {
  it('reads headers, BOM, CRLF, other column orders, and reports bad rows', () => {
    const a = parsePdcadLabels('\uFEFFcase,label\r\nRJPD_001,1\r\nRJPD_002,0\r\n');
    expect([...a.labels]).toEqual([
      ['RJPD_001', 1],
      ['RJPD_002', 0],
    ]);
    expect(a.problems).toEqual([]);
    expect([...parsePdcadLabels('label,case\n1,A\n').labels]).toEqual([['A', 1]]);
    expect([...parsePdcadLabels('A,1\nB,0\n').labels]).toEqual([
      ['A', 1],
      ['B', 0],
    ]);
    const bad = parsePdcadLabels('case,label\nA,PD\nB,\nC,1\nC,0\n', 'x.csv');
    expect([...bad.labels]).toEqual([['C', 1]]);
    expect(bad.rows).toBe(4);
    expect(bad.problems.map((p) => [p.row, p.caseId, p.code, p.reason])).toEqual([
      [2, 'A', 'E_CLASS_LABEL_INVALID', "x.csv:2: case A has label 'PD'; labels must be 0 (HC) or 1 (PD)"],
      [3, 'B', 'E_CLASS_LABEL_INVALID', "x.csv:3: case B has label ''; labels must be 0 (HC) or 1 (PD)"],
      [5, 'C', 'E_CLASS_LABEL_CONFLICT', 'x.csv:5: case C is listed twice with different labels'],
    ]);
  });

  it('accepts 0 and 1 only and returns each bad row as data (case, row, code, value)', () => {
    const parsed = parsePdcadLabels(
      'case,label\nA,2\nB,1\nC,-1\nD,0.5\nE,0\n,1\nF,PD\nB,0\nG,1.0\n',
      'x.csv',
    );
    expect([...parsed.labels]).toEqual([
      ['B', 1],
      ['E', 0],
      ['G', 1],
    ]);
    expect(parsed.problems.map(({ caseId, row, code, value }) => ({ caseId, row, code, value }))).toEqual([
      { caseId: 'A', row: 2, code: 'E_CLASS_LABEL_INVALID', value: '2' },
      { caseId: 'C', row: 4, code: 'E_CLASS_LABEL_INVALID', value: '-1' },
      { caseId: 'D', row: 5, code: 'E_CLASS_LABEL_INVALID', value: '0.5' },
      { caseId: undefined, row: 7, code: 'E_CSV_ROW_INVALID', value: undefined },
      { caseId: 'F', row: 8, code: 'E_CLASS_LABEL_INVALID', value: 'PD' },
      { caseId: 'B', row: 9, code: 'E_CLASS_LABEL_CONFLICT', value: '0' },
    ]);
    expect(parsed.problems[0]!.reason).toBe("x.csv:2: case A has label '2'; labels must be 0 (HC) or 1 (PD)");
  });
});
