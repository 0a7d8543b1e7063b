import * as cliProgress from 'cli-progress';

import { InvalidInputError } from '../errors';

/** The stream a progress bar writes to: stderr, or anything with `write` (and `isTTY`) in tests. */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** Settings of a progress bar. */
export interface ProgressOptions {
  /** Name of the running job, at the start of every line (`train`, `evaluate`, `merge`). */
  label: string;
  /** Units of work in total; leave unset when unknown (then no percentage and no ETA). */
  total?: number;
  /** Name of one unit of work (default `steps`). */
  unit?: string;
  /** Output stream (default `process.stderr`). */
  stream?: ProgressStream;
  /** Seconds between plain lines when the stream is not a terminal (default 30). */
  intervalSeconds?: number;
  /** Set false to draw nothing (for example in quiet mode). */
  enabled?: boolean;
}

/** Values shown after the rate, such as `{ loss: 2.31 }`. */
export type ProgressValues = Record<string, number | string>;

/**
 * A progress bar with rate and ETA for long work, drawn with `cli-progress`. On a terminal it
 * redraws one line in place. On anything else (CI logs, files) it writes one plain line every
 * `intervalSeconds`, plus one when it stops. Always call `stop()`, because the bar's timer keeps
 * Node.js running.
 */
export class ProgressBar {
  private readonly bar: cliProgress.SingleBar | undefined;
  private readonly label: string;
  private readonly unit: string;
  private total: number | undefined;
  private value = 0;
  private startValue = 0;
  private startTime = 0;
  private values: ProgressValues = {};

  constructor(options: ProgressOptions) {
    this.label = options.label;
    this.unit = options.unit ?? 'steps';
    this.total = options.total;
    const intervalSeconds = options.intervalSeconds ?? 30;
    if (!(intervalSeconds > 0)) {
      throw new InvalidInputError(`Invalid progress interval ${intervalSeconds}: use a positive number of seconds`);
    }
    if (options.enabled === false) return;

    const stream = options.stream ?? process.stderr;
    const tty = stream.isTTY === true;
    this.bar = new cliProgress.SingleBar({
      stream: stream as NodeJS.WritableStream,
      format: (barOptions, params) => this.format(barOptions, params.progress, tty),
      noTTYOutput: !tty,
      notTTYSchedule: intervalSeconds * 1000,
      // off a terminal the last line is already complete, so no trailing empty line
      clearOnComplete: !tty,
      hideCursor: false,
      barsize: 30,
    });
  }

  /** Starts the clock and draws the first line; `value` is where a resumed job starts. */
  start(value = 0): void {
    this.value = value;
    this.startValue = value;
    this.startTime = Date.now();
    this.bar?.start(this.total ?? 0, value);
  }

  /** Sets the work done so far and, optionally, the values shown after the rate. */
  update(value: number, values?: ProgressValues): void {
    this.value = value;
    if (values) this.values = { ...this.values, ...values };
    this.bar?.update(value);
  }

  /** Adds `count` units of work done. */
  increment(count = 1, values?: ProgressValues): void {
    this.update(this.value + count, values);
  }

  /** Changes the total, for work whose size becomes known after it started. */
  setTotal(total: number): void {
    this.total = total;
    this.bar?.setTotal(total);
  }

  /** Draws the final line and stops the timer. */
  stop(): void {
    this.bar?.stop();
  }

  /** Returns units of work per second since `start`, or undefined until some work is done. */
  rate(): number | undefined {
    const seconds = (Date.now() - this.startTime) / 1000;
    const done = this.value - this.startValue;
    return seconds > 0 && done > 0 ? done / seconds : undefined;
  }

  private format(barOptions: cliProgress.Options, progress: number, tty: boolean): string {
    const rate = this.rate();
    const parts = [
      this.total ? `${this.value}/${this.total} ${this.unit} (${Math.floor(progress * 100)}%)` : `${this.value} ${this.unit}`,
      rate === undefined ? `? ${this.unit}/s` : `${formatRate(rate)} ${this.unit}/s`,
    ];
    if (this.total) {
      const remaining = rate ? (this.total - this.value) / rate : undefined;
      parts.push(`ETA ${remaining === undefined ? '?' : formatDuration(remaining)}`);
    }
    parts.push(`elapsed ${formatDuration((Date.now() - this.startTime) / 1000)}`);
    for (const [name, value] of Object.entries(this.values)) parts.push(`${name} ${formatValue(value)}`);

    if (!tty) return `${this.label}: ${parts.join(', ')}`;
    const bar = this.total ? `${cliProgress.Format.BarFormat(progress, barOptions)} ` : '';
    return `${this.label} ${bar}${parts.join(' | ')}`;
  }
}

/** Formats seconds as `45s`, `3m05s` or `2h07m`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const whole = Math.max(0, Math.round(seconds));
  const hours = Math.floor(whole / 3600);
  const minutes = Math.floor((whole % 3600) / 60);
  const rest = whole % 60;
  if (hours > 0) return `${hours}h${String(minutes).padStart(2, '0')}m`;
  if (minutes > 0) return `${minutes}m${String(rest).padStart(2, '0')}s`;
  return `${rest}s`;
}

function formatRate(rate: number): string {
  if (rate >= 100) return rate.toFixed(0);
  if (rate >= 1) return rate.toFixed(2);
  return rate.toPrecision(2);
}

function formatValue(value: number | string): string {
  if (typeof value === 'string') return value;
  return Number.isInteger(value) ? String(value) : value.toPrecision(4);
}
