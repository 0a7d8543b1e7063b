/**
 * Progress of a whole run: one log line as each step starts and ends, with the time left for
 * the whole run. The estimate times each remaining step by the mean duration of finished steps
 * of its kind in this process, and by the relative costs below until a kind has been timed.
 */
import { formatDuration, getLogger } from '@modularevo/core-tensor';

import type { PlanStep } from './plan';

const log = getLogger('longrun');

// Rough cost of each step kind relative to a fine-tuning step, used only until one is timed.
const RELATIVE_COST: Record<PlanStep['kind'], number> = { module: 3, overlap: 0.05, finetune: 1, compose: 1 };

/** Times the steps of a run and logs each with an estimate of the time left. */
export class RunProgress {
  private readonly seconds = new Map<PlanStep['kind'], number[]>();
  private started = 0;

  /**
   * @param steps - every step of the plan, in order
   * @param done - ids of the steps finished before this process started
   */
  constructor(
    private readonly steps: readonly PlanStep[],
    private readonly done: Set<string>,
  ) {}

  /** Logs the start of a step. */
  start(step: PlanStep): void {
    this.started = Date.now();
    const index = this.steps.indexOf(step);
    log.info(`step ${index + 1}/${this.steps.length}: ${step.id}`);
  }

  /** Records the end of a step, logs its duration and the time left, and returns its seconds. */
  finish(step: PlanStep): number {
    const seconds = (Date.now() - this.started) / 1000;
    this.done.add(step.id);
    const list = this.seconds.get(step.kind) ?? [];
    list.push(seconds);
    this.seconds.set(step.kind, list);

    const remaining = this.steps.filter((candidate) => !this.done.has(candidate.id));
    const left = remaining.reduce((sum, candidate) => sum + this.estimate(candidate.kind), 0);
    const finished = this.steps.length - remaining.length;
    log.info(
      `step ${this.steps.indexOf(step) + 1}/${this.steps.length} done in ${formatDuration(seconds)}: ${step.id}; ` +
        `${finished}/${this.steps.length} steps finished, about ${formatDuration(left)} left`,
    );
    return seconds;
  }

  /** Estimated seconds of a step of `kind`. */
  private estimate(kind: PlanStep['kind']): number {
    const timed = this.seconds.get(kind);
    if (timed && timed.length > 0) return timed.reduce((sum, value) => sum + value, 0) / timed.length;

    // scale the relative cost by the first kind timed so far
    const first = this.seconds.entries().next();
    if (first.done) return 0;
    const [other, values] = first.value;
    const mean = values.reduce((sum, value) => sum + value, 0) / values.length;
    return (mean / RELATIVE_COST[other]) * RELATIVE_COST[kind];
  }
}
