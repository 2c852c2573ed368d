/**
 * How many labelled cases training needs, and the one error that says so when they are not there.
 *
 * Every model trains with a class-balanced sampler and a contrastive loss that need two cases of each
 * class in its training set. With k-fold cross-validation a class of n cases loses up to ceil(n / k)
 * of them to the held-out fold, so each class needs n - ceil(n / k) >= 2; and k folds need k cases.
 */

import { MrnError } from '../errors.js';

/** What {@link casesNeeded} asks for. */
export interface CasesNeeded {
  /** Least number of labelled cases in all. */
  total: number;
  /** Least number of cases of each class (PD and HC). */
  perClass: number;
  /** The requirement in words, e.g. `5-fold cross-validation needs at least 6 cases and 3 per class`. */
  text: string;
}

/** Cases of one class each training set needs (class-balanced batches and SupCon need two). */
const MIN_TRAIN_PER_CLASS = 2;

/**
 * The cases `k`-fold cross-validation (`k >= 2`) or a single model (`k = 1`) needs.
 *
 * @throws MrnError `E_CONFIG` when `k` is not a positive integer.
 */
export function casesNeeded(k: number): CasesNeeded {
  if (!Number.isInteger(k) || k < 1)
    throw new MrnError('E_CONFIG', `casesNeeded: k must be a positive integer, got ${k}`);
  if (k === 1) {
    return {
      total: 2 * MIN_TRAIN_PER_CLASS,
      perClass: MIN_TRAIN_PER_CLASS,
      text: `training one model needs at least ${MIN_TRAIN_PER_CLASS} cases of each class`,
    };
  }
  let perClass = MIN_TRAIN_PER_CLASS;
  while (perClass - Math.ceil(perClass / k) < MIN_TRAIN_PER_CLASS) perClass++;
  const total = Math.max(k, 2 * perClass);
  return {
    total,
    perClass,
    text: `${k}-fold cross-validation needs at least ${total} cases and ${perClass} per class`,
  };
}

/** Where the cases came from, for the message of {@link checkEnoughCases}. */
export interface EnoughCasesContext {
  /** Prefix of the message (e.g. `mrn train`). */
  who?: string;
  /** The cohort folder. */
  dir?: string;
  /** Where the usable cases came from, e.g. `12 case folders and 14 CSV rows`. */
  foundIn?: string;
  /** Why the other cases were skipped, e.g. `2 E_FILE_NOT_FOUND, 1 E_CLASS_LABEL_INVALID`. */
  skipped?: string;
  /** Extra structured details for the error. */
  details?: Record<string, unknown>;
}

/**
 * Throws one {@link MrnError} `E_TOO_FEW_CASES` (CLI exit 5) when `labels` (one 0/1 label per usable
 * case) are too few for `k` (see {@link casesNeeded}); the message says how many cases of each class
 * there are, where they came from, what is needed and why others were skipped.
 */
export function checkEnoughCases(
  labels: readonly number[],
  k: number,
  context: EnoughCasesContext = {},
): void {
  const need = casesNeeded(k);
  const pd = labels.filter((l) => l === 1).length;
  const hc = labels.filter((l) => l === 0).length;
  if (labels.length >= need.total && pd >= need.perClass && hc >= need.perClass) return;
  const message =
    `${context.who ? `${context.who}: ` : ''}too few usable cases${context.dir ? ` in ${context.dir}` : ''}: ` +
    `${labels.length} usable labelled cases (${pd} PD, ${hc} HC)` +
    `${context.foundIn ? ` from ${context.foundIn}` : ''}; ${need.text}` +
    `${context.skipped ? `; skipped: ${context.skipped}` : ''}`;
  throw new MrnError('E_TOO_FEW_CASES', message, {
    details: {
      usable: labels.length,
      pd,
      hc,
      k,
      needed: { total: need.total, perClass: need.perClass },
      ...context.details,
    },
  });
}
