/**
 * Early stopping on a validation metric: stop when the metric has not improved by more than
 * `minDelta` for `patience` epochs, and remember the best epoch (the checkpoint to keep).
 */

import { MrnError } from '../errors.js';

/** Options of {@link EarlyStopping}. */
export interface EarlyStoppingOptions {
  /** `max` for accuracy/AUC, `min` for losses. Default `max`. */
  mode?: 'max' | 'min';
  /** Epochs without improvement before stopping. Default 10. */
  patience?: number;
  /** Smallest change that counts as an improvement. Default 0. */
  minDelta?: number;
}

/** The serialisable state of an {@link EarlyStopping} (stored in checkpoints for resuming). */
export interface EarlyStoppingState {
  best: number | null;
  bestEpoch: number | null;
  epochsSinceBest: number;
}

/** What {@link EarlyStopping.update} decided for one epoch. */
export interface EarlyStoppingDecision {
  /** The value is the best so far (save the best checkpoint). */
  improved: boolean;
  /** Patience is exhausted: stop training. */
  stop: boolean;
}

/** Tracks the best value of a validation metric and decides when to stop. */
export class EarlyStopping {
  readonly mode: 'max' | 'min';
  readonly patience: number;
  readonly minDelta: number;
  private s: EarlyStoppingState = { best: null, bestEpoch: null, epochsSinceBest: 0 };

  constructor(options: EarlyStoppingOptions = {}, state?: EarlyStoppingState) {
    this.mode = options.mode ?? 'max';
    this.patience = options.patience ?? 10;
    this.minDelta = options.minDelta ?? 0;
    if (this.mode !== 'max' && this.mode !== 'min') {
      throw new MrnError(
        'E_CONFIG',
        `EarlyStopping: mode must be 'max' or 'min', got '${String(this.mode)}'`,
      );
    }
    if (!Number.isInteger(this.patience) || this.patience < 1) {
      throw new MrnError(
        'E_CONFIG',
        `EarlyStopping: patience must be a positive integer, got ${this.patience}`,
      );
    }
    if (!(this.minDelta >= 0)) {
      throw new MrnError('E_CONFIG', `EarlyStopping: minDelta must be >= 0, got ${this.minDelta}`);
    }
    if (state) this.s = { ...state };
  }

  /** Records the metric of `epoch`. A NaN value never counts as an improvement. */
  update(value: number, epoch: number): EarlyStoppingDecision {
    const { best } = this.s;
    const better =
      !Number.isNaN(value) &&
      (best === null || (this.mode === 'max' ? value > best + this.minDelta : value < best - this.minDelta));
    if (better) {
      this.s = { best: value, bestEpoch: epoch, epochsSinceBest: 0 };
    } else {
      this.s.epochsSinceBest += 1;
    }
    return { improved: better, stop: this.s.epochsSinceBest >= this.patience };
  }

  /** The best value so far (null before the first finite value). */
  get best(): number | null {
    return this.s.best;
  }

  /** The epoch of the best value (null before the first finite value). */
  get bestEpoch(): number | null {
    return this.s.bestEpoch;
  }

  /** A copy of the state, for checkpoints. */
  state(): EarlyStoppingState {
    return { ...this.s };
  }
}
