import { InvalidInputError, MetricsLogger, type MetricValue } from '@modularevo/core-tensor';

import type { RunRecord } from '../report/records';

/** A run record before the logger adds `step` and `time`. */
export type RecordValues = RunRecord extends infer R ? (R extends RunRecord ? Omit<R, 'step' | 'time'> : never) : never;

/**
 * Writes the run's metric records to `<runDir>/metrics.jsonl`, each tagged with the index of the
 * plan step that wrote it.
 */
export class RunLog {
  private readonly logger: MetricsLogger;
  /** Index of the running plan step. */
  step = 0;

  constructor(runDir: string) {
    this.logger = new MetricsLogger(runDir);
  }

  /**
   * Appends one record.
   *
   * @throws InvalidInputError for a number that is not finite, which a diverged training run
   *   produces; the summary would be meaningless with it
   */
  write(record: RecordValues): void {
    for (const [name, value] of Object.entries(record)) {
      if (typeof value === 'number' && !Number.isFinite(value)) {
        throw new InvalidInputError(
          `The ${record.kind} result has ${name} = ${value}, which is not finite; training probably diverged: lower the learning rate (--lr, --modularize-lr)`,
        );
      }
    }
    this.logger.log({ step: this.step, ...(record as Record<string, MetricValue>) });
  }

  close(): void {
    this.logger.close();
  }
}
