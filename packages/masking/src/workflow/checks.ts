/** Checks of workflow settings; each throws an InvalidInputError naming the setting and the valid range. */
import { InvalidInputError } from '@modularevo/core-tensor';

export function requireText(name: string, value: unknown, description: string): void {
  if (typeof value !== 'string' || value.trim() === '') throw new InvalidInputError(`Missing ${name}: give ${description}`);
}

export function positive(name: string, value: number): number {
  if (!(Number.isFinite(value) && value > 0)) throw new InvalidInputError(`Invalid ${name} ${value}: use a positive number`);
  return value;
}

export function nonNegative(name: string, value: number): number {
  if (!(Number.isFinite(value) && value >= 0)) throw new InvalidInputError(`Invalid ${name} ${value}: use a number of at least 0`);
  return value;
}

/** Checks a fraction in [0, 1). */
export function fraction(name: string, value: number): number {
  if (!(Number.isFinite(value) && value >= 0 && value < 1)) throw new InvalidInputError(`Invalid ${name} ${value}: use a number from 0 up to (not including) 1`);
  return value;
}

export function count(name: string, value: number, minimum: number): number {
  if (!(Number.isSafeInteger(value) && value >= minimum)) throw new InvalidInputError(`Invalid ${name} ${value}: use a whole number of at least ${minimum}`);
  return value;
}

export function optionalCount(name: string, value: number | undefined): number | undefined {
  return value === undefined ? undefined : count(name, value, 1);
}

/** Checks a seed as `createRng` takes it. */
export function seed(value: number): number {
  if (!(Number.isSafeInteger(value) && value >= 0 && value <= 0xffffffff)) {
    throw new InvalidInputError(`Invalid seed ${value}: use a whole number from 0 to ${0xffffffff}`);
  }
  return value;
}

/** Returns the warm-up steps: `warmupSteps` when given, else `warmupRatio` of the training steps, rounded up as the Hugging Face Trainer does. */
export function warmupStepsOf(settings: { warmupSteps?: number; warmupRatio: number }, trainingSteps: number): number {
  return settings.warmupSteps ?? Math.ceil(settings.warmupRatio * trainingSteps);
}
