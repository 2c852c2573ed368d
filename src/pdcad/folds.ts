/**
 * Stratified cross-validation folds and train/validation splits over labelled cases.
 *
 * With ~200 cases and a balanced PD/HC cohort, an unstratified split can easily give a fold with a
 * 60/40 class ratio, which shifts the decision threshold and the reported accuracy. Here every class
 * is shuffled (seeded) and dealt round-robin, so each fold holds every class within one case of the
 * others and fold sizes differ by at most one.
 */

import { MrnError } from '../errors.js';
import { createRng } from '../rng.js';

/** The least a case needs for stratification: a class label. Anything else is carried along. */
export interface StratifiableCase {
  /** The class (e.g. 1 = PD, 0 = HC). `undefined` (unlabelled) cases cannot be stratified. */
  label?: number | string;
}

/** One fold of {@link stratifiedKFold}: the held-out cases and the rest. */
export interface Fold<T> {
  /** The fold's index, 0 .. k-1. */
  index: number;
  /** Cases used for training (all cases not in `test`), in input order. */
  train: T[];
  /** The held-out cases of this fold, in input order. */
  test: T[];
}

/** A stratified two-way split, see {@link stratifiedSplit}. */
export interface TrainValSplit<T> {
  /** Training cases, in input order. */
  train: T[];
  /** Validation cases, in input order. */
  val: T[];
}

function checkLabelled<T extends StratifiableCase>(cases: readonly T[], fn: string): void {
  if (!Array.isArray(cases)) {
    throw new MrnError('E_INVALID_ARGUMENT', `${fn}: cases must be an array`);
  }
  const unlabelled = cases.findIndex((c) => c?.label === undefined || c.label === null);
  if (unlabelled >= 0) {
    const id = (cases[unlabelled] as { id?: unknown } | undefined)?.id;
    throw new MrnError(
      'E_INVALID_ARGUMENT',
      `${fn}: case ${id !== undefined ? String(id) : `#${unlabelled}`} has no label; stratification needs labelled cases`,
      { details: { index: unlabelled } },
    );
  }
}

/**
 * The indices of the cases of each class (input order within a class), one array per class. Classes
 * come in sorted label order, so that results do not depend on which class appears first in the input.
 */
function indicesByClass<T extends StratifiableCase>(cases: readonly T[]): number[][] {
  const byClass = new Map<string, number[]>();
  cases.forEach((c, i) => {
    const key = `${typeof c.label}:${String(c.label)}`;
    const list = byClass.get(key);
    if (list) list.push(i);
    else byClass.set(key, [i]);
  });
  return [...byClass.keys()].sort().map((key) => byClass.get(key)!);
}

/**
 * Deals the cases of each class (shuffled with `seed`) round-robin into `k` bins, continuing the
 * round-robin across classes so that bin sizes stay within one of each other. Returns, for each case
 * (input order), its bin.
 */
function assignBins<T extends StratifiableCase>(cases: readonly T[], k: number, seed: number): number[] {
  const rng = createRng(seed);
  const classes = indicesByClass(cases);
  const bins = new Array<number>(cases.length).fill(-1);
  // Random starting bin, so the bins that get the "extra" case of an odd class vary with the seed.
  let next = rng.int(0, k);
  for (const indices of classes) {
    const members = rng.shuffle([...indices]);
    for (const i of members) {
      bins[i] = next;
      next = (next + 1) % k;
    }
  }
  return bins;
}

/**
 * Splits labelled cases into `k` stratified folds. Every case is in exactly one fold's `test`; within
 * each fold the number of cases of each class differs from other folds by at most one, and fold sizes
 * differ by at most one. The same cases and seed always give the same folds.
 *
 * @param cases Cases with a `label` (any other fields are kept; the objects are returned as is).
 * @param k Number of folds, 2 .. cases.length.
 * @param seed Seed for the shuffle ({@link createRng}).
 * @throws MrnError `E_INVALID_ARGUMENT` when `k` is out of range or a case has no label.
 *
 * @example
 * ```ts
 * const { cases } = await loadPdcadCases('train/', { labels: 'train.csv' });
 * for (const fold of stratifiedKFold(cases, 5, 42)) train(fold.train, fold.test);
 * ```
 */
export function stratifiedKFold<T extends StratifiableCase>(
  cases: readonly T[],
  k: number,
  seed: number,
): Fold<T>[] {
  checkLabelled(cases, 'stratifiedKFold');
  if (!Number.isInteger(k) || k < 2 || k > cases.length) {
    throw new MrnError(
      'E_INVALID_ARGUMENT',
      `stratifiedKFold: k must be an integer in [2, ${cases.length}] (the number of cases), got ${k}`,
    );
  }
  const bins = assignBins(cases, k, seed);
  return Array.from({ length: k }, (_, index) => ({
    index,
    train: cases.filter((_c, i) => bins[i] !== index),
    test: cases.filter((_c, i) => bins[i] === index),
  }));
}

/**
 * Splits labelled cases into a stratified training and validation set: each class contributes
 * `round(n_class * valFraction)` cases to `val` (at least one case of each class with two or more
 * cases, when `valFraction > 0`), chosen with a seeded shuffle.
 *
 * @param cases Cases with a `label`.
 * @param valFraction Fraction in (0, 1) of each class that goes to validation.
 * @param seed Seed for the shuffle.
 * @throws MrnError `E_INVALID_ARGUMENT` when `valFraction` is out of range, a case has no label, or
 *   the split would leave `train` or `val` empty.
 */
export function stratifiedSplit<T extends StratifiableCase>(
  cases: readonly T[],
  valFraction: number,
  seed: number,
): TrainValSplit<T> {
  checkLabelled(cases, 'stratifiedSplit');
  if (!(valFraction > 0 && valFraction < 1)) {
    throw new MrnError(
      'E_INVALID_ARGUMENT',
      `stratifiedSplit: valFraction must be in (0, 1), got ${valFraction}`,
    );
  }
  const rng = createRng(seed);
  const inVal = new Array<boolean>(cases.length).fill(false);
  for (const indices of indicesByClass(cases)) {
    const members = rng.shuffle([...indices]);
    let nVal = Math.round(members.length * valFraction);
    if (nVal === 0 && members.length >= 2) nVal = 1;
    if (nVal === members.length && members.length >= 2) nVal = members.length - 1;
    for (let t = 0; t < nVal; t++) inVal[members[t]!] = true;
  }
  const train = cases.filter((_c, i) => !inVal[i]);
  const val = cases.filter((_c, i) => inVal[i]);
  if (train.length === 0 || val.length === 0) {
    throw new MrnError(
      'E_INVALID_ARGUMENT',
      `stratifiedSplit: ${cases.length} cases with valFraction ${valFraction} leave an empty ${train.length === 0 ? 'train' : 'val'} set`,
    );
  }
  return { train, val };
}
