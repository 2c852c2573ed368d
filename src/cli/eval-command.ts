import fs from 'node:fs';
import path from 'node:path';
import { loadPdcadCases } from '../pdcad/load-cases.js';
import { MrnError, MRN_ERROR_CODES } from '../errors.js';
import { rocSvg } from '../plots/roc-plot.js';
import { binaryMetrics, rocCurve } from '../train/metrics.js';
import { ProgressBar } from '../train/progress.js';
import { withCliModel } from './cli-model.js';
import type { CliCommand } from './command.js';
import { parseCommandArgs, requireOptions } from './command.js';
import { printBinaryMetrics } from './metrics-lines.js';

/** `mrn eval`: metrics of a trained model on a labelled folder. */
export const evalCommand: CliCommand = {
  name: 'eval',
  summary: 'evaluate a trained model on labelled cases (accuracy, AUC, ... with 95% CIs, ROC plot)',
  help: `Usage: mrn eval --data DIR --labels CSV --model DIR [--out DIR] [--backbone PATH]

Predicts every labelled case and reports accuracy (the challenge metric), balanced accuracy, ROC AUC,
sensitivity and specificity, each with a percentile-bootstrap 95% confidence interval (1000 resamples),
and the confusion matrix.

Options:
  --data DIR        folder of case folders (required)
  --labels CSV      case,label CSV (required)
  --model DIR       run folder (model.json) or checkpoint folder (required)
  --out DIR         where to write eval.json, eval-predictions.csv and roc.svg (default: print only)
  --backbone PATH   the backbone the model was trained on, when its recorded path is gone
  --help            show this help

Exit codes: 0 ok, 8 some cases failed (metrics on the others), 3 missing data/model, 6 mismatch, 2 usage.`,
  async run(argv, io) {
    const { values } = parseCommandArgs('eval', argv, {
      data: { type: 'string' },
      labels: { type: 'string' },
      model: { type: 'string' },
      out: { type: 'string' },
      backbone: { type: 'string' },
    });
    requireOptions('eval', values, ['data', 'labels', 'model']);
    return withCliModel(io, { model: values.model, backbone: values.backbone }, async (mrn) => {
      const cohort = await loadPdcadCases(values.data, {
        labels: values.labels,
        rois: mrn.preprocessing.rois,
      });
      let failures = cohort.excluded.length;
      for (const p of cohort.problems) if (p.severity === 'error') io.err(`failed ${p.caseId}: ${p.reason}`);
      const cases = cohort.cases.filter((c) => c.label === 0 || c.label === 1);
      const labels: number[] = [];
      const probs: number[] = [];
      const rows: string[] = [];
      const bar = new ProgressBar({ total: cases.length, label: 'eval', stream: process.stderr });
      for (const c of cases) {
        try {
          const p = await mrn.predictCase(c);
          labels.push(c.label!);
          probs.push(p.probPd);
          rows.push(`${c.id},${c.label},${p.probPd.toFixed(6)},${p.pred}`);
        } catch (error) {
          failures++;
          io.err(`failed ${c.id}: ${(error as Error).message}`);
        }
        bar.tick(1, c.id);
      }
      bar.done();
      if (labels.length === 0) throw new MrnError('E_CASE_INVALID', 'mrn eval: no case could be evaluated');
      const m = binaryMetrics(labels, probs);
      io.out(`MRN on ${labels.length} cases (${mrn.members} model(s))`);
      printBinaryMetrics(io, m);
      if (values.out) {
        fs.mkdirSync(values.out, { recursive: true });
        fs.writeFileSync(path.join(values.out, 'eval.json'), JSON.stringify(m, null, 2));
        fs.writeFileSync(
          path.join(values.out, 'eval-predictions.csv'),
          ['case,label,prob_pd,pred', ...rows].join('\n') + '\n',
        );
        if (labels.includes(0) && labels.includes(1)) {
          fs.writeFileSync(
            path.join(values.out, 'roc.svg'),
            rocSvg([{ name: 'MRN', points: rocCurve(labels, probs) }]),
          );
        }
        io.out(`wrote ${values.out}/eval.json, eval-predictions.csv, roc.svg`);
      }
      return failures ? MRN_ERROR_CODES.E_PARTIAL_FAILURE : 0;
    });
  },
};
