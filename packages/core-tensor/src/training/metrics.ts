import * as fs from 'fs';
import * as nodePath from 'path';

import { writeJsonAtomic } from '../checkpoint/atomic';
import { CheckpointError, InvalidInputError } from '../errors';

/** Values a metrics line may carry besides its step. NaN and infinities are written as `null`. */
export type MetricValue = number | string | boolean | null;

/** One line of `metrics.jsonl`. */
export interface MetricsRecord {
  /** Optimizer steps completed when the values were measured. */
  step: number;
  /** Epoch index (0 for the first pass over the data), when the producer reports one. */
  epoch?: number;
  /** Wall-clock time of the line, in seconds since the Unix epoch. */
  time: number;
  [name: string]: MetricValue | undefined;
}

/** The file name `MetricsLogger` writes in a run folder. */
export const METRICS_FILE = 'metrics.jsonl';

/** The file name `writeRunConfig` writes in a run folder. */
export const RUN_CONFIG_FILE = 'config.json';

/**
 * Appends metrics to `<runDir>/metrics.jsonl`, one JSON object per line
 * (`{"step": 10, "epoch": 0, "time": 1733300000.123, "loss": 2.31, ...}`). Each line is
 * written to the file as soon as it is logged, so other programs can follow a run while it trains
 * and a crash of the process loses no logged line. An existing file is appended to, as when a run resumes.
 */
export class MetricsLogger {
  /** The metrics file. */
  readonly path: string;
  private fd: number | undefined;

  constructor(runDir: string, fileName = METRICS_FILE) {
    fs.mkdirSync(runDir, { recursive: true });
    this.path = nodePath.join(runDir, fileName);
    this.fd = fs.openSync(this.path, 'a+');

    // a run killed in the middle of a write leaves a partial line; start on a fresh one
    const size = fs.fstatSync(this.fd).size;
    if (size > 0) {
      const last = Buffer.alloc(1);
      fs.readSync(this.fd, last, 0, 1, size - 1);
      if (last[0] !== 0x0a) fs.writeSync(this.fd, '\n');
    }
  }

  /**
   * Appends one line with `step`, `epoch` (when given), the current time and `values`, and
   * returns the record written.
   *
   * @throws InvalidInputError when the logger is closed or `step` is not a non-negative integer
   */
  log(entry: { step: number; epoch?: number } & Record<string, MetricValue | undefined>): MetricsRecord {
    if (this.fd === undefined) throw new InvalidInputError(`Metrics logger for ${this.path} is closed`);
    if (!Number.isSafeInteger(entry.step) || entry.step < 0) {
      throw new InvalidInputError(`Invalid step ${entry.step} for ${this.path}: use a non-negative integer`);
    }

    const { step, epoch, ...values } = entry;
    const record: MetricsRecord = { step, ...(epoch === undefined ? {} : { epoch }), time: Date.now() / 1000, ...values };
    fs.writeSync(this.fd, `${JSON.stringify(record)}\n`);
    return record;
  }

  /** Closes the file. Logging after close throws. */
  close(): void {
    if (this.fd === undefined) return;
    fs.closeSync(this.fd);
    this.fd = undefined;
  }
}

/**
 * Reads a `metrics.jsonl` file.
 *
 * @throws CheckpointError when the file cannot be read or a line is not a JSON object with a step
 */
export function readMetrics(path: string): MetricsRecord[] {
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (error) {
    throw new CheckpointError(path, `cannot read metrics file (${(error as Error).message})`);
  }

  const records: MetricsRecord[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() === '') continue;
    let record: unknown;
    try {
      record = JSON.parse(lines[i]);
    } catch {
      throw new CheckpointError(path, `line ${i + 1} is not valid JSON`);
    }
    if (typeof record !== 'object' || record === null || typeof (record as MetricsRecord).step !== 'number') {
      throw new CheckpointError(path, `line ${i + 1} is not a metrics record with a numeric "step"`);
    }
    records.push(record as MetricsRecord);
  }
  return records;
}

/**
 * Writes the resolved configuration of a run to `<runDir>/config.json` atomically (creating the
 * folder) and returns the file's path.
 *
 * @throws InvalidInputError when `config` cannot be written as JSON (cycles, BigInt values)
 */
export function writeRunConfig(runDir: string, config: unknown): string {
  try {
    JSON.stringify(config);
  } catch (error) {
    throw new InvalidInputError(`Run configuration cannot be written as JSON: ${(error as Error).message}`);
  }

  fs.mkdirSync(runDir, { recursive: true });
  const path = nodePath.join(runDir, RUN_CONFIG_FILE);
  writeJsonAtomic(path, config);
  return path;
}
