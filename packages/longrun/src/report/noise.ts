/**
 * Noise estimates for comparing strategies on the same test split. A score that is a fraction of
 * examples (accuracy) has a binomial standard error `sqrt(p (1 - p) / n)`. Two strategies are
 * scored on the same examples, so their errors are positively correlated and the unpaired
 * standard error of a difference used here overstates the noise: a difference called "within
 * noise" may still be real, but one called "beyond noise" is unlikely to be chance.
 */

/** Metrics whose value is a fraction of examples, so the binomial standard error applies. */
const PROPORTION_METRICS = new Set(['accuracy', 'exact-match']);

/** Returns the binomial standard error of a proportion `p` over `n` examples, or undefined for another metric. */
export function standardError(metric: string, p: number, n: number): number | undefined {
  if (!PROPORTION_METRICS.has(metric) || !(n > 0)) return undefined;
  const clamped = Math.min(1, Math.max(0, p));
  return Math.sqrt((clamped * (1 - clamped)) / n);
}

/** Returns the standard error of a mean of independent values with the given standard errors. */
export function standardErrorOfMean(errors: readonly number[]): number {
  const sumOfSquares = errors.reduce((sum, error) => sum + error * error, 0);
  return Math.sqrt(sumOfSquares) / errors.length;
}

/** Returns the standard error of `a - b` for independent `a` and `b`. */
export function standardErrorOfDifference(a: number, b: number): number {
  return Math.sqrt(a * a + b * b);
}

/** Returns the population standard deviation of `values` (0 for fewer than two). */
export function standardDeviation(values: readonly number[]): number {
  if (values.length < 2) return 0;
  const mean = values.reduce((sum, value) => sum + value, 0) / values.length;
  return Math.sqrt(values.reduce((sum, value) => sum + (value - mean) ** 2, 0) / values.length);
}

/** A difference is "within noise" when it is smaller than this many standard errors (about a 95% interval). */
export const NOISE_STANDARD_ERRORS = 2;
