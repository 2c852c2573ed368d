import type { BinaryMetrics } from '../train/metrics.js';
import { formatMetric } from '../train/metrics.js';
import type { CliIO } from './command.js';

/**
 * Prints the metric block `mrn train` and `mrn eval` end with: accuracy, balanced accuracy, ROC AUC,
 * sensitivity and specificity with their 95% CIs, then the confusion matrix.
 */
export function printBinaryMetrics(io: CliIO, m: BinaryMetrics): void {
  io.out(`  accuracy           ${formatMetric(m.accuracy)}`);
  io.out(`  balanced accuracy  ${formatMetric(m.balancedAccuracy)}`);
  io.out(`  ROC AUC            ${formatMetric(m.auc)}`);
  io.out(`  sensitivity        ${formatMetric(m.sensitivity)}`);
  io.out(`  specificity        ${formatMetric(m.specificity)}`);
  const c = m.confusion;
  io.out(`  confusion          TP ${c.tp}  FN ${c.fn}  TN ${c.tn}  FP ${c.fp}`);
}
