/**
 * A progress bar with ETA for long steps (preprocessing, feature extraction, epochs). On a terminal it
 * redraws one line in place; when output goes to a file or a CI log it prints plain lines at most every
 * 10% (and at the end), so logs stay readable.
 */

import { MrnError } from '../errors.js';

/** Options of {@link ProgressBar}. */
export interface ProgressBarOptions {
  /** Number of units of work. */
  total: number;
  /** What is progressing (e.g. `features`, `epoch 3/20`). */
  label: string;
  /** Where to write (default: `process.stderr`). */
  stream?: { write(chunk: string): unknown; isTTY?: boolean };
  /** Force terminal (redraw) or plain-line mode. Default: the stream's `isTTY`. */
  tty?: boolean;
  /** Clock in milliseconds (tests inject one). Default `Date.now`. */
  now?: () => number;
  /** Bar width in characters (terminal mode). Default 24. */
  width?: number;
}

/** `1:05`, `12:00:03`, or `?` when unknown. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

/** A progress bar; call {@link ProgressBar.tick} per unit of work and {@link ProgressBar.done} at the end. */
export class ProgressBar {
  private readonly total: number;
  private readonly label: string;
  private readonly stream: { write(chunk: string): unknown; isTTY?: boolean };
  private readonly tty: boolean;
  private readonly now: () => number;
  private readonly width: number;
  private readonly start: number;
  private count = 0;
  private lastPrintedDecile = -1;
  private finished = false;

  constructor(options: ProgressBarOptions) {
    if (!Number.isInteger(options.total) || options.total < 0) {
      throw new MrnError(
        'E_INVALID_ARGUMENT',
        `ProgressBar: total must be a non-negative integer, got ${options.total}`,
      );
    }
    this.total = options.total;
    this.label = options.label;
    this.stream = options.stream ?? process.stderr;
    this.tty = options.tty ?? Boolean(this.stream.isTTY);
    this.now = options.now ?? Date.now;
    this.width = options.width ?? 24;
    this.start = this.now();
  }

  /** Seconds since the bar was created. */
  elapsedSeconds(): number {
    return (this.now() - this.start) / 1000;
  }

  /** Estimated seconds left, from the mean time per unit so far (NaN before the first unit). */
  etaSeconds(): number {
    if (this.count === 0) return NaN;
    return (this.elapsedSeconds() / this.count) * (this.total - this.count);
  }

  /** The current line, without control characters. */
  line(info?: string): string {
    const frac = this.total === 0 ? 1 : this.count / this.total;
    const pct = `${Math.floor(frac * 100)}%`.padStart(4);
    const filled = Math.round(frac * this.width);
    const bar = this.tty ? ` [${'#'.repeat(filled)}${'.'.repeat(this.width - filled)}]` : '';
    const timing =
      this.count >= this.total
        ? `${formatDuration(this.elapsedSeconds())} total`
        : `${formatDuration(this.elapsedSeconds())} elapsed, ETA ${formatDuration(this.etaSeconds())}`;
    return `${this.label}${bar} ${pct} ${this.count}/${this.total} ${timing}${info ? ` ${info}` : ''}`;
  }

  /** Records `n` more units done (default 1), with optional extra text (e.g. the current loss). */
  tick(n = 1, info?: string): void {
    if (this.finished) return;
    this.count = Math.min(this.total, this.count + n);
    if (this.tty) {
      this.stream.write(`\r${this.line(info)}\u001b[K`);
      return;
    }
    const decile = this.total === 0 ? 10 : Math.floor((this.count / this.total) * 10);
    if (decile > this.lastPrintedDecile && this.count < this.total) {
      this.lastPrintedDecile = decile;
      this.stream.write(`${this.line(info)}\n`);
    }
  }

  /** Ends the bar (prints the final line once). */
  done(info?: string): void {
    if (this.finished) return;
    this.count = this.total;
    this.finished = true;
    this.stream.write(this.tty ? `\r${this.line(info)}\u001b[K\n` : `${this.line(info)}\n`);
  }
}
