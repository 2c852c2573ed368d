import { MrnError } from '../errors.js';
import { crossValidateBaseline } from '../baselines/cross-validate.js';
import { fitLogisticRegression } from '../baselines/logistic-regression.js';
import { loadBaselineSamples } from '../baselines/load-baseline-samples.js';
import { BASELINE_FEATURE_NAMES } from '../baselines/roi-features.js';
import type { CliCommand } from './command.js';
import { intOption, parseCommandArgs, requireOptions } from './command.js';

/** `mrn baseline`: the classical PD/HC baseline under stratified k-fold cross-validation. */
export const baselineCommand: CliCommand = {
  name: 'baseline',
  summary:
    'cross-validate the classical baseline (logistic regression on nucleus QSM, NM-SN volume/contrast)',
  help: `Usage: mrn baseline --data DIR [options]

Reads every labelled case of DIR (PDCADxFoundation layout), computes 20 features per case (mean QSM
of the 16 nuclei, NM-SN volume and contrast on both sides), and reports the accuracy and ROC AUC of
an L2 logistic regression under stratified k-fold cross-validation (out-of-fold predictions).

Options:
  --data DIR     cohort folder with RJPD_###/ case folders                      (required)
  --labels CSV   case,label CSV                                 (default DIR/train_cases.csv)
  --folds K      number of folds                                                (default 5)
  --seed S       seed of the fold assignment                                    (default 0)
  --l2 L         L2 penalty (in cases) on the standardised weights              (default 1)
  --json         print the result as JSON
  --help         show this help`,
  async run(argv, io) {
    const { values } = parseCommandArgs('baseline', argv, {
      data: { type: 'string' },
      labels: { type: 'string' },
      folds: { type: 'string' },
      seed: { type: 'string' },
      l2: { type: 'string' },
      json: { type: 'boolean' },
    });
    requireOptions('baseline', values, ['data']);
    const folds = intOption('baseline', 'folds', values.folds, 5);
    if (folds < 2) throw new MrnError('E_USAGE', `mrn baseline: --folds must be >= 2, got ${folds}`);
    const seed = intOption('baseline', 'seed', values.seed, 0);
    const l2 = values.l2 === undefined ? 1 : Number(values.l2);
    if (!(Number.isFinite(l2) && l2 >= 0)) {
      throw new MrnError('E_USAGE', `mrn baseline: --l2 must be a number >= 0, got '${values.l2}'`);
    }
    const { samples, problems } = await loadBaselineSamples(values.data, { labels: values.labels });
    const cv = crossValidateBaseline(samples, { folds, seed, l2 });
    const model = fitLogisticRegression(
      samples.map((s) => s.features),
      samples.map((s) => s.label),
      { l2 },
    );
    const weights = BASELINE_FEATURE_NAMES.map((name, j) => ({
      feature: name,
      weight: model.weights[j]!,
    })).sort((a, b) => Math.abs(b.weight) - Math.abs(a.weight));
    if (values.json) {
      io.out(
        JSON.stringify(
          {
            n: cv.n,
            folds,
            accuracy: cv.accuracy,
            foldAccuracy: cv.foldAccuracy,
            auc: cv.auc,
            weights,
            probabilities: cv.probabilities,
            problems,
          },
          null,
          2,
        ),
      );
      return 0;
    }
    for (const p of problems) io.err(`  ${p.severity} ${p.caseId}: ${p.reason}`);
    const pd = samples.filter((s) => s.label === 1).length;
    io.out(`baseline: ${cv.n} cases (${pd} PD, ${cv.n - pd} HC), ${folds}-fold stratified CV`);
    io.out(
      `accuracy ${(cv.accuracy * 100).toFixed(1)}%  (folds: ${cv.foldAccuracy.map((a) => (a * 100).toFixed(0) + '%').join(' ')})`,
    );
    io.out(`ROC AUC  ${cv.auc.toFixed(3)}`);
    io.out('largest standardised weights (all cases; + means PD):');
    for (const w of weights.slice(0, 6))
      io.out(`  ${w.feature.padEnd(18)} ${w.weight >= 0 ? '+' : ''}${w.weight.toFixed(2)}`);
    return 0;
  },
};
