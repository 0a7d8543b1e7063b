import { InvalidInputError } from '../errors';

/**
 * A learning-rate schedule: the factor that multiplies each parameter group's lr at an
 * optimizer step, given the number of optimizer steps already taken (0 for the first update).
 * It is the `lr_lambda` of a PyTorch `LambdaLR`, from which Hugging Face `transformers` builds
 * its schedules. As there, the first update of a warm-up schedule uses factor 0.
 */
export type LrSchedule = (step: number) => number;

/** Schedule names, as the `lr_scheduler_type` of Hugging Face `transformers` spells them. */
export const SCHEDULER_TYPES = ['constant', 'linear', 'constant_with_warmup'] as const;

/** A schedule name from `SCHEDULER_TYPES`. */
export type SchedulerType = (typeof SCHEDULER_TYPES)[number];

/** Step counts of a schedule. */
export interface ScheduleOptions {
  /** Steps over which the factor rises linearly from 0 to 1 (default 0). */
  warmupSteps?: number;
  /** Total optimizer steps; `linear` decays to 0 at this step. */
  trainingSteps?: number;
}

/** Returns the schedule whose factor is always 1. */
export function constantSchedule(): LrSchedule {
  return () => 1;
}

/**
 * Returns the schedule of `get_linear_schedule_with_warmup`: the factor rises linearly from 0 to
 * 1 over `warmupSteps`, then falls linearly to 0 at `trainingSteps` and stays 0.
 *
 * @throws InvalidInputError when a step count is negative or not an integer
 */
export function linearScheduleWithWarmup(warmupSteps: number, trainingSteps: number): LrSchedule {
  checkSteps('warmupSteps', warmupSteps);
  checkSteps('trainingSteps', trainingSteps);
  return (step) => {
    if (step < warmupSteps) return step / Math.max(1, warmupSteps);
    return Math.max(0, (trainingSteps - step) / Math.max(1, trainingSteps - warmupSteps));
  };
}

/**
 * Returns the schedule of `get_constant_schedule_with_warmup`: the factor rises linearly from 0 to
 * 1 over `warmupSteps`, then stays 1.
 *
 * @throws InvalidInputError when `warmupSteps` is negative or not an integer
 */
export function constantScheduleWithWarmup(warmupSteps: number): LrSchedule {
  checkSteps('warmupSteps', warmupSteps);
  return (step) => (step < warmupSteps ? step / Math.max(1, warmupSteps) : 1);
}

/**
 * Returns a schedule by its Hugging Face name, for configuration files and command-line flags.
 *
 * @throws InvalidInputError on an unknown name, or `linear` without `trainingSteps`
 */
export function createSchedule(type: string, options: ScheduleOptions = {}): LrSchedule {
  const warmupSteps = options.warmupSteps ?? 0;
  switch (type) {
    case 'constant':
      return constantSchedule();
    case 'constant_with_warmup':
      return constantScheduleWithWarmup(warmupSteps);
    case 'linear':
      if (options.trainingSteps === undefined) {
        throw new InvalidInputError('The linear learning-rate schedule needs the number of training steps');
      }
      return linearScheduleWithWarmup(warmupSteps, options.trainingSteps);
    default:
      throw new InvalidInputError(`Unknown learning-rate schedule "${type}": use one of ${SCHEDULER_TYPES.join(', ')}`);
  }
}

function checkSteps(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new InvalidInputError(`Invalid ${name} ${value} for a learning-rate schedule: use a non-negative integer`);
  }
}
