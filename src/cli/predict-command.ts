import { loadPdcadCases } from '../pdcad/load-cases.js';
import { MrnError, MRN_ERROR_CODES } from '../errors.js';
import { type CasePredictionRow, writePredictionCsv } from '../predict/prediction-csv.js';
import { ProgressBar } from '../train/progress.js';
import { withCliModel } from './cli-model.js';
import type { CliCommand } from './command.js';
import { parseCommandArgs, requireOptions } from './command.js';

/** `mrn predict`: writes the challenge submission CSV for a folder of cases. */
export const predictCommand: CliCommand = {
  name: 'predict',
  summary: 'predict PD/HC for a folder of cases; writes pred.csv (case,pred) and pred.details.csv',
  help: `Usage: mrn predict --data DIR --model DIR --out pred.csv [--backbone PATH]

Predicts every case folder in DIR with the model trained by 'mrn train' (the run folder holding
model.json, i.e. the fold ensemble, or a single checkpoint folder such as OUT/fold-1/best).

Writes:
  pred.csv          exactly the challenge format: 'case,pred' (1 = PD, 0 = HC), one line per case
                    that could be processed
  pred.details.csv  every case: 'case,pred,prob_pd,status,error' (status ok or failed, with the error)

Options:
  --data DIR        folder of case folders (QSM, NM, QSM_mask, NM_mask .nii.gz each) (required)
  --model DIR       run folder or checkpoint folder (required)
  --out FILE        submission CSV path (default pred.csv)
  --backbone PATH   the backbone the model was trained on, when its recorded path is gone; a
                    different backbone (sha256 mismatch) is refused
  --help            show this help

Exit codes: 0 every case predicted, 8 some cases failed (listed in pred.details.csv; the others are in
pred.csv), 3 data or model folder missing, 6 model/backbone mismatch, 2 usage.`,
  async run(argv, io) {
    const { values } = parseCommandArgs('predict', argv, {
      data: { type: 'string' },
      model: { type: 'string' },
      out: { type: 'string' },
      backbone: { type: 'string' },
    });
    requireOptions('predict', values, ['data', 'model']);
    const out = values.out ?? 'pred.csv';
    return withCliModel(io, { model: values.model, backbone: values.backbone }, async (mrn) => {
      const cohort = await loadPdcadCases(values.data, { rois: mrn.preprocessing.rois });
      const rows: CasePredictionRow[] = [];
      for (const p of cohort.problems) {
        if (
          p.severity === 'error' &&
          cohort.excluded.includes(p.caseId) &&
          !rows.some((r) => r.caseId === p.caseId)
        ) {
          rows.push({ caseId: p.caseId, status: 'failed', error: `${p.code}: ${p.reason}` });
        }
      }
      const bar = new ProgressBar({ total: cohort.cases.length, label: 'predict', stream: process.stderr });
      for (const c of cohort.cases) {
        try {
          const p = await mrn.predictCase(c);
          rows.push({ caseId: c.id, status: 'ok', pred: p.pred, probPd: p.probPd });
        } catch (error) {
          const code = error instanceof MrnError ? `${error.code}: ` : '';
          rows.push({ caseId: c.id, status: 'failed', error: `${code}${(error as Error).message}` });
        }
        bar.tick(1, c.id);
      }
      bar.done();
      rows.sort((a, b) => (a.caseId < b.caseId ? -1 : a.caseId > b.caseId ? 1 : 0));
      const details = writePredictionCsv(out, rows);
      const failed = rows.filter((r) => r.status === 'failed');
      io.out(`wrote ${out} (${rows.length - failed.length} cases) and ${details}`);
      if (failed.length) {
        for (const f of failed) io.err(`failed ${f.caseId}: ${f.error}`);
        io.err(`${failed.length} case(s) failed; see ${details}`);
        return MRN_ERROR_CODES.E_PARTIAL_FAILURE;
      }
      return 0;
    });
  },
};
