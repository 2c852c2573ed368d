/**
 * Learning-rate schedule: linear warm-up from 0 to the peak, then a half cosine down to a floor.
 * Warm-up keeps the first steps of freshly initialised attention heads from overshooting; the cosine
 * tail lets the last epochs settle.
 */

import { MrnError } from '../errors.js';

/** Options of {@link cosineWithWarmup}. */
export interface CosineScheduleOptions {
  /** Peak learning rate, reached at the end of warm-up. */
  peak: number;
  /** Total number of optimiser steps of the run. */
  totalSteps: number;
  /** Warm-up steps (linear from `peak / warmupSteps` at step 0 to `peak`). Default 0. */
  warmupSteps?: number;
  /** Final learning rate, as a fraction of `peak`. Default 0.01. */
  minFraction?: number;
}

/**
 * Returns `lr(step)` for 0-based optimiser steps: `peak·(step+1)/warmup` during warm-up, then
 * `min + (peak - min)·(1 + cos(π·t))/2` with t going from 0 to 1 over the remaining steps; steps past
 * the end stay at the floor. Throws `E_CONFIG` for inconsistent settings.
 */
export function cosineWithWarmup(options: CosineScheduleOptions): (step: number) => number {
  const { peak, totalSteps } = options;
  const warmup = options.warmupSteps ?? 0;
  const minFraction = options.minFraction ?? 0.01;
  if (!(peak > 0) || !Number.isFinite(peak)) {
    throw new MrnError('E_CONFIG', `cosineWithWarmup: peak learning rate must be > 0, got ${peak}`);
  }
  if (!Number.isInteger(totalSteps) || totalSteps < 1) {
    throw new MrnError(
      'E_CONFIG',
      `cosineWithWarmup: totalSteps must be a positive integer, got ${totalSteps}`,
    );
  }
  if (!Number.isInteger(warmup) || warmup < 0 || warmup > totalSteps) {
    throw new MrnError(
      'E_CONFIG',
      `cosineWithWarmup: warmupSteps must be an integer in [0, totalSteps=${totalSteps}], got ${warmup}`,
    );
  }
  if (!(minFraction >= 0 && minFraction <= 1)) {
    throw new MrnError('E_CONFIG', `cosineWithWarmup: minFraction must be in [0, 1], got ${minFraction}`);
  }
  const floor = peak * minFraction;
  const decaySteps = totalSteps - warmup;
  return (step: number) => {
    if (step < warmup) return (peak * (step + 1)) / warmup;
    if (decaySteps <= 1) return peak;
    const t = Math.min(1, (step - warmup) / (decaySteps - 1));
    return floor + ((peak - floor) * (1 + Math.cos(Math.PI * t))) / 2;
  };
}
