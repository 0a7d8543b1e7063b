import { InvalidInputError } from '../errors';

/** Whether a larger (`max`, accuracy) or smaller (`min`, loss) metric is better. */
export type MetricMode = 'max' | 'min';

/** Outcome of recording one evaluation. */
export interface EvaluationOutcome {
  /** The primary metric beat every earlier evaluation. */
  improved: boolean;
  /** Evaluations since the last improvement reached the patience. */
  shouldStop: boolean;
}

/**
 * Tracks the best value of the primary metric across evaluations and counts evaluations
 * without improvement, as the Hugging Face `EarlyStoppingCallback` does (threshold 0: any
 * strict improvement counts).
 */
export class BestMetricTracker {
  best: number | undefined;
  bestStep: number | undefined;
  evaluationsSinceBest = 0;

  /**
   * @param patience - evaluations without improvement before training stops; undefined never stops
   */
  constructor(
    readonly metric: string,
    readonly mode: MetricMode,
    readonly patience?: number,
  ) {
    if (mode !== 'max' && mode !== 'min') {
      throw new InvalidInputError(`Invalid metric mode "${mode}": use "max" or "min"`);
    }
    if (patience !== undefined && !(Number.isSafeInteger(patience) && patience >= 1)) {
      throw new InvalidInputError(`Invalid early stopping patience ${patience}: use a positive integer`);
    }
  }

  /** Records the primary metric of the evaluation at `step`. */
  record(value: number, step: number): EvaluationOutcome {
    const improved =
      Number.isFinite(value) && (this.best === undefined || (this.mode === 'max' ? value > this.best : value < this.best));
    if (improved) {
      this.best = value;
      this.bestStep = step;
      this.evaluationsSinceBest = 0;
    } else {
      this.evaluationsSinceBest += 1;
    }
    const shouldStop = this.patience !== undefined && this.evaluationsSinceBest >= this.patience;
    return { improved, shouldStop };
  }
}
