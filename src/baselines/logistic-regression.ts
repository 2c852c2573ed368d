/**
 * L2-regularised logistic regression fitted by Newton's method (IRLS) on standardised features: the
 * classical baseline's classifier. Plain TypeScript, float64, deterministic; a few dozen features and
 * a few hundred cases solve in milliseconds.
 */

import { MrnError } from '../errors.js';

/** A fitted model: standardisation plus weights. */
export interface LogisticModel {
  /** Feature means used for standardisation. */
  mean: number[];
  /** Feature SDs used for standardisation (1 where a feature is constant). */
  std: number[];
  /** Weights on the standardised features. */
  weights: number[];
  /** Intercept. */
  bias: number;
}

/** Options of {@link fitLogisticRegression}. */
export interface LogisticOptions {
  /** L2 penalty on the weights (not the intercept), in units of cases. Default 1. */
  l2?: number;
  /** Newton iterations at most. Default 50. */
  maxIter?: number;
}

function checkMatrix(x: readonly (readonly number[])[], fn: string): number {
  if (!Array.isArray(x) || x.length === 0) throw new MrnError('E_INVALID_ARGUMENT', `${fn}: no samples`);
  const d = x[0]!.length;
  x.forEach((row, i) => {
    if (row.length !== d) {
      throw new MrnError(
        'E_INVALID_ARGUMENT',
        `${fn}: sample ${i} has ${row.length} features, expected ${d}`,
      );
    }
    if (row.some((v: number) => !Number.isFinite(v))) {
      throw new MrnError('E_NON_FINITE', `${fn}: sample ${i} has a non-finite feature`);
    }
  });
  return d;
}

/** Solves the symmetric positive-definite system `a x = b` (Cholesky); `a` is n x n rows. */
function solveSpd(a: number[][], b: number[]): number[] {
  const n = b.length;
  const l = a.map(() => new Array<number>(n).fill(0));
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i]![j]!;
      for (let k = 0; k < j; k++) s -= l[i]![k]! * l[j]![k]!;
      if (i === j) l[i]![i] = Math.sqrt(Math.max(s, 1e-12));
      else l[i]![j] = s / l[j]![j]!;
    }
  }
  const y = new Array<number>(n).fill(0);
  for (let i = 0; i < n; i++) {
    let s = b[i]!;
    for (let k = 0; k < i; k++) s -= l[i]![k]! * y[k]!;
    y[i] = s / l[i]![i]!;
  }
  const x = new Array<number>(n).fill(0);
  for (let i = n - 1; i >= 0; i--) {
    let s = y[i]!;
    for (let k = i + 1; k < n; k++) s -= l[k]![i]! * x[k]!;
    x[i] = s / l[i]![i]!;
  }
  return x;
}

const sigmoid = (z: number) => (z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z)));

/**
 * Fits `P(y=1 | x) = sigmoid(w . standardise(x) + b)` minimising the mean log-loss times n plus
 * `l2/2 * |w|^2`. `y` holds 0/1 labels. Throws `E_INVALID_ARGUMENT` on ragged or empty input or a
 * single class, `E_NON_FINITE` on NaN/Inf features.
 */
export function fitLogisticRegression(
  x: readonly (readonly number[])[],
  y: readonly number[],
  options: LogisticOptions = {},
): LogisticModel {
  const d = checkMatrix(x, 'fitLogisticRegression');
  const n = x.length;
  if (y.length !== n || y.some((v) => v !== 0 && v !== 1)) {
    throw new MrnError('E_INVALID_ARGUMENT', `fitLogisticRegression: y must hold ${n} labels of 0 or 1`);
  }
  if (y.every((v) => v === y[0])) {
    throw new MrnError('E_INVALID_ARGUMENT', 'fitLogisticRegression: both classes must be present');
  }
  const l2 = options.l2 ?? 1;
  if (!(l2 >= 0))
    throw new MrnError('E_INVALID_ARGUMENT', `fitLogisticRegression: l2 must be >= 0, got ${l2}`);
  const mean = new Array<number>(d).fill(0);
  const std = new Array<number>(d).fill(0);
  for (const row of x) for (let j = 0; j < d; j++) mean[j] += row[j]! / n;
  for (const row of x) for (let j = 0; j < d; j++) std[j] += (row[j]! - mean[j]!) ** 2 / n;
  for (let j = 0; j < d; j++) std[j] = Math.sqrt(std[j]!) > 1e-12 ? Math.sqrt(std[j]!) : 1;
  const z = x.map((row) => [...row.map((v, j) => (v - mean[j]!) / std[j]!), 1]);
  const p = d + 1;
  let beta = new Array<number>(p).fill(0);
  for (let iter = 0; iter < (options.maxIter ?? 50); iter++) {
    const grad = new Array<number>(p).fill(0);
    const hess = Array.from({ length: p }, () => new Array<number>(p).fill(0));
    for (let i = 0; i < n; i++) {
      const zi = z[i]!;
      let eta = 0;
      for (let j = 0; j < p; j++) eta += beta[j]! * zi[j]!;
      const mu = sigmoid(eta);
      const wi = Math.max(mu * (1 - mu), 1e-10);
      const r = mu - y[i]!;
      for (let j = 0; j < p; j++) {
        grad[j] += r * zi[j]!;
        const hj = hess[j]!;
        for (let k = 0; k <= j; k++) hj[k] += wi * zi[j]! * zi[k]!;
      }
    }
    for (let j = 0; j < p; j++) for (let k = 0; k < j; k++) hess[k]![j] = hess[j]![k]!;
    for (let j = 0; j < d; j++) {
      grad[j] += l2 * beta[j]!;
      hess[j]![j] += l2;
    }
    const step = solveSpd(hess, grad);
    beta = beta.map((b, j) => b - step[j]!);
    if (Math.max(...step.map(Math.abs)) < 1e-9) break;
  }
  return { mean, std, weights: beta.slice(0, d), bias: beta[d]! };
}

/** P(y = 1) for each row of `x` under `model`. */
export function predictLogistic(model: LogisticModel, x: readonly (readonly number[])[]): number[] {
  const d = checkMatrix(x, 'predictLogistic');
  if (d !== model.weights.length) {
    throw new MrnError(
      'E_INVALID_ARGUMENT',
      `predictLogistic: samples have ${d} features, the model ${model.weights.length}`,
    );
  }
  return x.map((row) => {
    let eta = model.bias;
    for (let j = 0; j < d; j++) eta += (model.weights[j]! * (row[j]! - model.mean[j]!)) / model.std[j]!;
    return sigmoid(eta);
  });
}
