/** The challenge's `case,label` CSV (1 = PD, 0 = HC): parsing, with every bad row reported as data. */

/** A bad row of the labels CSV (see {@link parsePdcadLabels}). */
export interface PdcadLabelProblem {
  /** 1-based line number in the CSV (the header is line 1). */
  row: number;
  /** The case id of the row; `undefined` when the row has none. */
  caseId: string | undefined;
  /** What is wrong with the row. */
  code: 'E_CLASS_LABEL_INVALID' | 'E_CLASS_LABEL_CONFLICT' | 'E_CSV_ROW_INVALID';
  /** The label cell as written, when the row has a case id. */
  value?: string;
  /** What is wrong, in words, with file and line. */
  reason: string;
}

/** A class label cell: 0 or 1, optionally written as a float (`1.0`, as pandas writes floats). */
const CLASS_LABEL = /^[01](\.0*)?$/;

/**
 * Parses a `case,label` CSV. A header row is recognised (and skipped) when its label cell is not a
 * number; columns named `case`/`id`/`subject` and `label` are used when present, else the first two.
 * Labels must be `0` (HC) or `1` (PD); every other value is a problem of its row.
 * Returns the labels by case id, the bad rows as data and the number of data rows.
 */
export function parsePdcadLabels(
  text: string,
  file = 'labels.csv',
): { labels: Map<string, number>; problems: PdcadLabelProblem[]; rows: number } {
  const lines = text
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)
    .map((l) => l.trim());
  const labels = new Map<string, number>();
  const problems: PdcadLabelProblem[] = [];
  let caseCol = 0;
  let labelCol = 1;
  let first = true;
  let rows = 0;
  lines.forEach((line, n) => {
    if (line === '' || line.startsWith('#')) return;
    const cells = line.split(/[,;\t]/).map((c) => c.trim().replace(/^"(.*)"$/, '$1'));
    if (first) {
      first = false;
      const lower = cells.map((c) => c.toLowerCase());
      const l = lower.indexOf('label');
      const c = lower.findIndex((x) => x === 'case' || x === 'id' || x === 'subject' || x === 'case_id');
      if (l >= 0 || c >= 0 || !Number.isFinite(Number(cells[1]))) {
        if (l >= 0) labelCol = l;
        if (c >= 0) caseCol = c;
        return;
      }
    }
    rows++;
    const row = n + 1;
    const id = cells[caseCol] || undefined;
    const raw = cells[labelCol] ?? '';
    if (id === undefined) {
      problems.push({
        row,
        caseId: undefined,
        code: 'E_CSV_ROW_INVALID',
        reason: `${file}:${row}: no case id`,
      });
    } else if (!CLASS_LABEL.test(raw)) {
      problems.push({
        row,
        caseId: id,
        code: 'E_CLASS_LABEL_INVALID',
        value: raw,
        reason: `${file}:${row}: case ${id} has label '${raw}'; labels must be 0 (HC) or 1 (PD)`,
      });
    } else if (labels.has(id) && labels.get(id) !== Number(raw)) {
      problems.push({
        row,
        caseId: id,
        code: 'E_CLASS_LABEL_CONFLICT',
        value: raw,
        reason: `${file}:${row}: case ${id} is listed twice with different labels`,
      });
    } else labels.set(id, Number(raw));
  });
  return { labels, problems, rows };
}
