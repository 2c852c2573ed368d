/**
 * Class-balanced batches. The supervised contrastive loss needs, for every anchor, at least one other
 * patient of its class in the batch, so every batch holds at least two patients of each class; the
 * smaller class is cycled (reshuffled each pass) so every case is seen at least once per epoch.
 */

import { MrnError } from '../errors.js';
import type { Rng } from '../rng.js';

/** Options of {@link classBalancedBatches}. */
export interface BalancedBatchOptions {
  /** Patients per batch (at least 4: two of each class). */
  batchSize: number;
  /**
   * Fraction of each batch given to class 1. Default: the class's share of the data, clamped so each
   * class has at least two places.
   */
  positiveFraction?: number;
}

/** A cyclic, reshuffling stream over one class's indices. */
function cycler(indices: number[], rng: Rng): () => number {
  let order = rng.shuffle([...indices]);
  let pos = 0;
  return () => {
    if (pos === order.length) {
      order = rng.shuffle([...indices]);
      pos = 0;
    }
    return order[pos++]!;
  };
}

/**
 * One epoch of batches of case indices into `labels` (0/1). Every batch has at least two cases of
 * each class and never repeats a case; every case appears at least once; the number of batches is
 * `ceil` of the larger class's size over its share of a batch. Deterministic for a given `rng` state.
 *
 * Throws `E_CONFIG` when a class has fewer than two cases or `batchSize < 4`.
 */
export function classBalancedBatches(
  labels: readonly number[],
  rng: Rng,
  options: BalancedBatchOptions,
): number[][] {
  const { batchSize } = options;
  if (!Number.isInteger(batchSize) || batchSize < 4) {
    throw new MrnError(
      'E_CONFIG',
      `classBalancedBatches: batchSize must be an integer >= 4 (two patients per class), got ${batchSize}`,
    );
  }
  const pos: number[] = [];
  const neg: number[] = [];
  labels.forEach((y, i) => {
    if (y === 1) pos.push(i);
    else if (y === 0) neg.push(i);
    else
      throw new MrnError(
        'E_INVALID_ARGUMENT',
        `classBalancedBatches: label ${y} at index ${i} is not 0 or 1`,
      );
  });
  if (pos.length < 2 || neg.length < 2) {
    throw new MrnError(
      'E_CONFIG',
      `classBalancedBatches: the contrastive loss needs at least 2 cases per class, got ${pos.length} PD and ${neg.length} HC`,
      { details: { pd: pos.length, hc: neg.length } },
    );
  }
  const fraction = options.positiveFraction ?? pos.length / labels.length;
  if (!(fraction > 0 && fraction < 1)) {
    throw new MrnError(
      'E_CONFIG',
      `classBalancedBatches: positiveFraction must be in (0, 1), got ${fraction}`,
    );
  }
  const total = Math.min(batchSize, labels.length);
  let nPos = Math.min(Math.max(2, Math.round(total * fraction)), total - 2, pos.length);
  let nNeg = Math.min(total - nPos, neg.length);
  // Give places back to the other class when one class is smaller than its share.
  nPos = Math.min(pos.length, total - nNeg);
  nNeg = Math.min(neg.length, total - nPos);
  const batches = Math.max(Math.ceil(pos.length / nPos), Math.ceil(neg.length / nNeg));
  const nextPos = cycler(pos, rng);
  const nextNeg = cycler(neg, rng);
  const out: number[][] = [];
  for (let b = 0; b < batches; b++) {
    const batch = new Set<number>();
    while (batch.size < nPos) batch.add(nextPos());
    while (batch.size < nPos + nNeg) batch.add(nextNeg());
    out.push(rng.shuffle([...batch]));
  }
  return out;
}
