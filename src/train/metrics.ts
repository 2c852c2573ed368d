/**
 * Binary classification metrics for PD (1) vs HC (0): the challenge metric (accuracy), balanced
 * accuracy, ROC AUC (ties counted as half, as the Mann-Whitney U statistic does), sensitivity,
 * specificity, a confusion matrix and percentile-bootstrap 95% confidence intervals. Plain numbers in,
 * plain numbers out: these run on predictions already read back from tensors.
 */

import { MrnError } from '../errors.js';
import { createRng } from '../rng.js';

/** Counts of a binary confusion matrix (positive = PD = 1). */
export interface ConfusionMatrix {
  /** PD predicted PD. */
  tp: number;
  /** HC predicted PD. */
  fp: number;
  /** HC predicted HC. */
  tn: number;
  /** PD predicted HC. */
  fn: number;
}

function checkBinaryLabels(fn: string, labels: readonly number[]): void {
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i];
    if (y !== 0 && y !== 1) {
      throw new MrnError('E_INVALID_ARGUMENT', `${fn}: labels must be 0 or 1, got ${y} at index ${i}`);
    }
  }
}

function checkSameLength(fn: string, a: readonly unknown[], b: readonly unknown[], what: string): void {
  if (a.length !== b.length) {
    throw new MrnError(
      'E_INVALID_ARGUMENT',
      `${fn}: ${a.length} labels but ${b.length} ${what}; they must pair up one to one`,
    );
  }
}

/**
 * The confusion matrix of hard predictions `preds` (0/1) against `labels` (0/1).
 * Throws `E_INVALID_ARGUMENT` for non-binary values or different lengths.
 */
export function confusionMatrix(labels: readonly number[], preds: readonly number[]): ConfusionMatrix {
  checkSameLength('confusionMatrix', labels, preds, 'predictions');
  checkBinaryLabels('confusionMatrix', labels);
  checkBinaryLabels('confusionMatrix (predictions)', preds);
  const m: ConfusionMatrix = { tp: 0, fp: 0, tn: 0, fn: 0 };
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] === 1) {
      if (preds[i] === 1) m.tp++;
      else m.fn++;
    } else if (preds[i] === 1) m.fp++;
    else m.tn++;
  }
  return m;
}

/** Fraction of correct predictions (the challenge metric). NaN when there are no cases. */
export function accuracy(m: ConfusionMatrix): number {
  const n = m.tp + m.fp + m.tn + m.fn;
  return n === 0 ? NaN : (m.tp + m.tn) / n;
}

/** True positive rate (recall of PD). NaN when there are no PD cases. */
export function sensitivity(m: ConfusionMatrix): number {
  const p = m.tp + m.fn;
  return p === 0 ? NaN : m.tp / p;
}

/** True negative rate (recall of HC). NaN when there are no HC cases. */
export function specificity(m: ConfusionMatrix): number {
  const n = m.tn + m.fp;
  return n === 0 ? NaN : m.tn / n;
}

/** Mean of sensitivity and specificity. NaN when either class is absent. */
export function balancedAccuracy(m: ConfusionMatrix): number {
  return (sensitivity(m) + specificity(m)) / 2;
}

/**
 * Area under the ROC curve of `scores` (higher = more PD) against `labels`, computed as the
 * Mann-Whitney U statistic with average ranks, so a tied PD/HC pair counts one half. NaN when one class
 * is absent (the AUC is undefined there). Throws `E_INVALID_ARGUMENT` for non-finite scores.
 */
export function rocAuc(labels: readonly number[], scores: readonly number[]): number {
  checkSameLength('rocAuc', labels, scores, 'scores');
  checkBinaryLabels('rocAuc', labels);
  const n = labels.length;
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(scores[i]!)) {
      throw new MrnError('E_INVALID_ARGUMENT', `rocAuc: score ${scores[i]} at index ${i} is not finite`);
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]!);
  // Average 1-based ranks over runs of tied scores.
  let rankSumPos = 0;
  let nPos = 0;
  for (let start = 0; start < n; ) {
    let end = start + 1;
    while (end < n && scores[order[end]!] === scores[order[start]!]) end++;
    const avgRank = (start + 1 + end) / 2;
    for (let k = start; k < end; k++) {
      if (labels[order[k]!] === 1) {
        rankSumPos += avgRank;
        nPos++;
      }
    }
    start = end;
  }
  const nNeg = n - nPos;
  if (nPos === 0 || nNeg === 0) return NaN;
  return (rankSumPos - (nPos * (nPos + 1)) / 2) / (nPos * nNeg);
}

/** One point of an ROC curve. */
export interface RocPoint {
  /** False positive rate (1 - specificity). */
  fpr: number;
  /** True positive rate (sensitivity). */
  tpr: number;
  /** Cases with score >= threshold are called PD at this point (Infinity for the (0, 0) corner). */
  threshold: number;
}

/**
 * The ROC curve: one point per distinct score (tied scores move the curve diagonally, which is what
 * makes its trapezoidal area equal {@link rocAuc}), from (0, 0) to (1, 1). Throws `E_INVALID_ARGUMENT`
 * when a class is absent.
 */
export function rocCurve(labels: readonly number[], scores: readonly number[]): RocPoint[] {
  checkSameLength('rocCurve', labels, scores, 'scores');
  checkBinaryLabels('rocCurve', labels);
  const nPos = labels.filter((y) => y === 1).length;
  const nNeg = labels.length - nPos;
  if (nPos === 0 || nNeg === 0) {
    throw new MrnError(
      'E_INVALID_ARGUMENT',
      `rocCurve: needs both classes, got ${nPos} PD and ${nNeg} HC cases`,
    );
  }
  const order = Array.from({ length: labels.length }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]!);
  const points: RocPoint[] = [{ fpr: 0, tpr: 0, threshold: Infinity }];
  let tp = 0;
  let fp = 0;
  for (let start = 0; start < order.length; ) {
    const s = scores[order[start]!]!;
    let end = start;
    while (end < order.length && scores[order[end]!] === s) {
      if (labels[order[end]!] === 1) tp++;
      else fp++;
      end++;
    }
    points.push({ fpr: fp / nNeg, tpr: tp / nPos, threshold: s });
    start = end;
  }
  return points;
}

/** Trapezoidal area under a list of ROC points (sorted by fpr, as {@link rocCurve} returns them). */
export function areaUnderCurve(points: readonly RocPoint[]): number {
  let area = 0;
  for (let i = 1; i < points.length; i++) {
    const a = points[i - 1]!;
    const b = points[i]!;
    area += ((b.fpr - a.fpr) * (a.tpr + b.tpr)) / 2;
  }
  return area;
}

/** A point estimate with its bootstrap confidence interval. */
export interface MetricWithCi {
  /** The metric on the full set. */
  value: number;
  /** Lower bound of the interval (NaN when no resample had the metric defined). */
  lo: number;
  /** Upper bound of the interval. */
  hi: number;
}

/** Options of {@link bootstrapCi} and {@link binaryMetrics}. */
export interface BootstrapOptions {
  /** Number of resamples. Default 1000. */
  iterations?: number;
  /** Confidence level. Default 0.95. */
  level?: number;
  /** Seed of the resampling generator ({@link createRng}). Default 0. */
  seed?: number;
}

/** The `q` quantile of sorted values, linearly interpolated (numpy's default). */
function quantileSorted(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/**
 * Percentile-bootstrap confidence interval of `metric(labels, scores)`: cases are resampled with
 * replacement `iterations` times from a seeded generator; resamples where the metric is undefined
 * (NaN, e.g. AUC on a one-class resample) are skipped. Same seed, same interval.
 */
export function bootstrapCi(
  labels: readonly number[],
  scores: readonly number[],
  metric: (labels: number[], scores: number[]) => number,
  options: BootstrapOptions = {},
): MetricWithCi {
  const iterations = options.iterations ?? 1000;
  const level = options.level ?? 0.95;
  if (!Number.isInteger(iterations) || iterations < 1) {
    throw new MrnError(
      'E_INVALID_ARGUMENT',
      `bootstrapCi: iterations must be a positive integer, got ${iterations}`,
    );
  }
  if (!(level > 0 && level < 1)) {
    throw new MrnError('E_INVALID_ARGUMENT', `bootstrapCi: level must be in (0, 1), got ${level}`);
  }
  checkSameLength('bootstrapCi', labels, scores, 'scores');
  const value = metric([...labels], [...scores]);
  const n = labels.length;
  if (n === 0) return { value, lo: NaN, hi: NaN };
  const rng = createRng(options.seed ?? 0);
  const samples: number[] = [];
  const ys = new Array<number>(n);
  const ss = new Array<number>(n);
  for (let it = 0; it < iterations; it++) {
    for (let i = 0; i < n; i++) {
      const j = rng.int(0, n);
      ys[i] = labels[j]!;
      ss[i] = scores[j]!;
    }
    const v = metric(ys, ss);
    if (!Number.isNaN(v)) samples.push(v);
  }
  samples.sort((a, b) => a - b);
  const tail = (1 - level) / 2;
  return { value, lo: quantileSorted(samples, tail), hi: quantileSorted(samples, 1 - tail) };
}

/** Everything {@link binaryMetrics} reports. */
export interface BinaryMetrics {
  /** Number of cases. */
  n: number;
  /** Probability threshold at or above which a case is called PD. */
  threshold: number;
  /** Hard-prediction counts at `threshold`. */
  confusion: ConfusionMatrix;
  accuracy: MetricWithCi;
  balancedAccuracy: MetricWithCi;
  /** ROC AUC of the probabilities (threshold-free). */
  auc: MetricWithCi;
  sensitivity: MetricWithCi;
  specificity: MetricWithCi;
}

/** Options of {@link binaryMetrics}. */
export interface BinaryMetricsOptions extends BootstrapOptions {
  /** PD when `prob >= threshold`. Default 0.5. */
  threshold?: number;
}

/**
 * All classification metrics of PD probabilities `probs` against `labels`, each with a bootstrap
 * confidence interval (the resamples are the same for every metric, since each uses the same seed).
 */
export function binaryMetrics(
  labels: readonly number[],
  probs: readonly number[],
  options: BinaryMetricsOptions = {},
): BinaryMetrics {
  const threshold = options.threshold ?? 0.5;
  checkSameLength('binaryMetrics', labels, probs, 'probabilities');
  checkBinaryLabels('binaryMetrics', labels);
  for (let i = 0; i < probs.length; i++) {
    const p = probs[i]!;
    if (!(p >= 0 && p <= 1)) {
      throw new MrnError(
        'E_INVALID_ARGUMENT',
        `binaryMetrics: probability ${p} at index ${i} is not in [0, 1]`,
      );
    }
  }
  const hard = (ps: readonly number[]) => ps.map((p) => (p >= threshold ? 1 : 0));
  const fromConfusion =
    (f: (m: ConfusionMatrix) => number) =>
    (ys: number[], ps: number[]): number =>
      f(confusionMatrix(ys, hard(ps)));
  const ci = (f: (ys: number[], ps: number[]) => number) => bootstrapCi(labels, probs, f, options);
  return {
    n: labels.length,
    threshold,
    confusion: confusionMatrix(labels, hard(probs)),
    accuracy: ci(fromConfusion(accuracy)),
    balancedAccuracy: ci(fromConfusion(balancedAccuracy)),
    auc: ci(rocAuc),
    sensitivity: ci(fromConfusion(sensitivity)),
    specificity: ci(fromConfusion(specificity)),
  };
}

/** `0.860 [0.790, 0.920]`: a metric and its interval for logs and the CLI. */
export function formatMetric(m: MetricWithCi, digits = 3): string {
  const f = (v: number) => (Number.isNaN(v) ? 'n/a' : v.toFixed(digits));
  return `${f(m.value)} [${f(m.lo)}, ${f(m.hi)}]`;
}
