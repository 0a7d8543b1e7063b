/**
 * Option names shared by the library, the `modularevo merge` command and merge recipes. Each
 * enum lists the exact strings a user writes, as MergeKit does for its merge options.
 */

/** Merge methods. */
export const MERGE_METHODS = ['average', 'task_arithmetic', 'ties', 'dare', 'fisher', 'regmean', 'modularevo'] as const;
export type MergeMethod = (typeof MERGE_METHODS)[number];

/** Over which entries TIES ranks magnitudes: all merged tensors of a model together, or each tensor alone. */
export const TRIM_SCOPES = ['global', 'tensor'] as const;
export type TrimScope = (typeof TRIM_SCOPES)[number];

/**
 * Rule for TIES entries whose magnitude equals the k-th smallest one.
 * - `exact-k`: drop exactly k entries; among equal magnitudes the entries that come first in
 *   flattened order (sorted parameter names, row-major) are kept.
 * - `inclusive`: keep every entry whose magnitude is at least the k-th smallest, as the original
 *   ModularEvo code does. When more than k entries are exact zeros the threshold is 0 and nothing
 *   is trimmed.
 */
export const TIES_THRESHOLDS = ['exact-k', 'inclusive'] as const;
export type TiesThreshold = (typeof TIES_THRESHOLDS)[number];

/** DARE choice of the delta entries to drop: Bernoulli draws, or the smallest magnitudes of each tensor. */
export const DROP_STRATEGIES = ['random', 'magnitude'] as const;
export type DropStrategy = (typeof DROP_STRATEGIES)[number];

/** The merge DARE applies to the sparsified task vectors. */
export const DARE_APPLY_METHODS = ['task_arithmetic', 'ties', 'average'] as const;
export type DareApplyMethod = (typeof DARE_APPLY_METHODS)[number];

/** Output element types. */
export const OUTPUT_DTYPES = ['F32', 'F16', 'BF16'] as const;
export type OutputDType = (typeof OUTPUT_DTYPES)[number];

/** Default relative distance `||ft - base|| / ||base||` above which a model is reported as far from the base. */
export const DEFAULT_WARN_DISTANCE = 0.1;

/**
 * Default relative distance above which a model is rejected as not a fine-tune of the base.
 * Fine-tuning moves weights by well under this; an independently trained model of the same
 * shape is about sqrt(2) away.
 */
export const DEFAULT_MAX_DISTANCE = 0.5;

/** Returns whether `value` is one of `choices`. */
export function isOneOf<T extends string>(choices: readonly T[], value: unknown): value is T {
  return typeof value === 'string' && (choices as readonly string[]).includes(value);
}
