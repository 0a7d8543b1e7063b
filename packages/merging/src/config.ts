import { InvalidInputError } from '@modularevo/core-tensor';

import {
  DARE_APPLY_METHODS,
  DEFAULT_MAX_DISTANCE,
  DEFAULT_WARN_DISTANCE,
  DROP_STRATEGIES,
  MERGE_METHODS,
  OUTPUT_DTYPES,
  TIES_THRESHOLDS,
  TRIM_SCOPES,
  isOneOf,
  type DareApplyMethod,
  type DropStrategy,
  type MergeMethod,
  type OutputDType,
  type TiesThreshold,
  type TrimScope,
} from './options';
import type { MaskSource } from './steps/module-mask';
import type { StatisticsProvider } from './statistics';

/** Default TIES trim rate (fraction of entries dropped), as in the original ModularEvo code. */
export const DEFAULT_TRIM = 0.8;

/** Default RegMean off-diagonal scaling: off-diagonal Gram entries are multiplied by this. */
export const DEFAULT_REDUCE_NON_DIAGONAL_RATIO = 0.9;

/** Default value added to every Fisher entry, so that the weighted mean does not divide by zero. */
export const DEFAULT_MINIMAL_FISHER_WEIGHT = 1e-6;

/**
 * Settings of a merge. Unset fields take the defaults given on each field. The same
 * settings are accepted by the CLI (`--trim`, `--drop-strategy`, ...) and by recipes
 * (`trim`, `drop_strategy`, ...).
 */
export interface MergeConfig {
  method: MergeMethod;
  /**
   * One coefficient per fine-tuned model, in model order. Task arithmetic, TIES, DARE and
   * ModularEvo scale each task vector by it (negative values negate a task); Fisher merging
   * scales each model's Fisher weights by it. Default 1 per model (Fisher: 1/n).
   */
  coefficients?: number[];
  /** Multiplier of the combined task vector before it is added to the base (TIES lambda). Default 1. */
  scalingCoefficient?: number;
  /**
   * TIES trim rate: fraction of each task vector's entries dropped, smallest magnitudes first,
   * in [0, 1]. Default 0.8 for `ties`, 0 when DARE applies TIES (DARE already sparsified).
   */
  trim?: number;
  /** Ranking scope of the TIES trim. Default `global`. */
  trimScope?: TrimScope;
  /** Tie handling of the TIES trim. Default `exact-k`. */
  tiesThreshold?: TiesThreshold;
  /** DARE drop rate in [0, 1], one for all models or one per model. Required for `dare`. */
  drop?: number | number[];
  /** DARE drop strategy. Default `random`. */
  dropStrategy?: DropStrategy;
  /** Merge that DARE applies to the sparsified models. Default `task_arithmetic`. */
  apply?: DareApplyMethod;
  /** Whether DARE divides the surviving delta entries by `1 - drop`. Default true. */
  rescale?: boolean;
  /**
   * Regular expressions of parameter names left out of the merge, matched at the start of the
   * name as Python's `re.match` does (`.*classification.*` matches any name containing
   * "classification"). Default none.
   */
  exclude?: string[];
  /** Seed of the DARE random drop. Default 0. */
  seed?: number;
  /** ModularEvo: one module mask per model (or undefined for a dense model), restricting its task vector. */
  masks?: (MaskSource | undefined)[];
  /** Fisher and RegMean statistics, computed from data by the architecture package. */
  statistics?: StatisticsProvider;
  /** Fisher: scale each model's coefficient by the inverse L2 norm of its Fisher weights. Default false. */
  normalizeFisher?: boolean;
  /** Fisher: value added to every Fisher entry before weighting. Default 1e-6. */
  minimalFisherWeight?: number;
  /** RegMean: factor applied to the off-diagonal Gram entries, in [0, 1]. Default 0.9. */
  reduceNonDiagonalRatio?: number;
  /** Output element type. Default: the base tensor's dtype (float inputs are merged in F32). */
  dtype?: OutputDType;
  /** Relative distance `||ft - base|| / ||base||` above which a warning names the model. Default 0.1. */
  warnDistance?: number;
  /** Relative distance above which the merge fails, unless `force` is set. Default 0.5. */
  maxDistance?: number;
  /** Merge even when a model is farther from the base than `maxDistance`. Default false. */
  force?: boolean;
}

/** A MergeConfig with every default filled in and every value checked. */
export interface ResolvedMergeConfig {
  method: MergeMethod;
  modelCount: number;
  coefficients: number[];
  scalingCoefficient: number;
  trim: number;
  trimScope: TrimScope;
  tiesThreshold: TiesThreshold;
  drop: number[];
  dropStrategy: DropStrategy;
  apply: DareApplyMethod;
  rescale: boolean;
  exclude: string[];
  seed: number;
  masks: (MaskSource | undefined)[];
  statistics: StatisticsProvider;
  normalizeFisher: boolean;
  minimalFisherWeight: number;
  reduceNonDiagonalRatio: number;
  dtype?: OutputDType;
  warnDistance: number;
  maxDistance: number;
  force: boolean;
}

/**
 * Checks `config` for `modelCount` fine-tuned models and fills in the defaults.
 * Throws an InvalidInputError naming the first invalid value.
 */
export function resolveMergeConfig(config: MergeConfig, modelCount: number): ResolvedMergeConfig {
  // method and model count
  if (!isOneOf(MERGE_METHODS, config.method)) {
    throw new InvalidInputError(`Unknown merge method ${JSON.stringify(config.method)}: use one of ${MERGE_METHODS.join(', ')}`);
  }
  if (!Number.isInteger(modelCount) || modelCount < 1) {
    throw new InvalidInputError('No fine-tuned models to merge: give at least one model');
  }
  const method = config.method;

  // coefficients, which average merging and RegMean do not use
  const weighted = method !== 'average' && method !== 'regmean' && !(method === 'dare' && config.apply === 'average');
  if (!weighted && (config.coefficients !== undefined || config.scalingCoefficient !== undefined)) {
    throw new InvalidInputError(
      `${method === 'dare' ? 'dare with apply average' : method} takes no coefficients; use task_arithmetic or ties to weight the models`,
    );
  }
  const defaultCoefficient = method === 'fisher' ? 1 / modelCount : 1;
  const coefficients = config.coefficients ?? new Array<number>(modelCount).fill(defaultCoefficient);
  if (coefficients.length !== modelCount) {
    throw new InvalidInputError(
      `Got ${coefficients.length} coefficients for ${modelCount} models: give exactly one coefficient per model`,
    );
  }
  coefficients.forEach((value, index) => requireFinite(value, `coefficient ${index + 1}`));
  const scalingCoefficient = requireFinite(config.scalingCoefficient ?? 1, 'scaling coefficient');

  // TIES
  const appliesTies = method === 'ties' || (method === 'dare' && config.apply === 'ties');
  const trim = requireRate(config.trim ?? (method === 'ties' ? DEFAULT_TRIM : 0), 'trim rate');
  if (config.trim !== undefined && !appliesTies) {
    throw new InvalidInputError(`A trim rate only applies to ties (or dare with apply ties), not to ${method}`);
  }
  const trimScope = requireChoice(TRIM_SCOPES, config.trimScope ?? 'global', 'trim scope');
  const tiesThreshold = requireChoice(TIES_THRESHOLDS, config.tiesThreshold ?? 'exact-k', 'TIES threshold');

  // DARE
  if (method === 'dare' && config.drop === undefined) {
    throw new InvalidInputError('The dare method needs a drop rate: set drop (--drop) to a fraction in [0, 1]');
  }
  if (method !== 'dare' && config.drop !== undefined) {
    throw new InvalidInputError(`A drop rate only applies to dare, not to ${method}`);
  }
  const dropValues = Array.isArray(config.drop) ? config.drop : new Array<number>(modelCount).fill(config.drop ?? 0);
  if (dropValues.length !== modelCount) {
    throw new InvalidInputError(`Got ${dropValues.length} drop rates for ${modelCount} models: give one rate, or one per model`);
  }
  const drop = dropValues.map((rate, index) => requireRate(rate, `drop rate ${index + 1}`));
  const dropStrategy = requireChoice(DROP_STRATEGIES, config.dropStrategy ?? 'random', 'drop strategy');
  const apply = requireChoice(DARE_APPLY_METHODS, config.apply ?? 'task_arithmetic', 'DARE apply method');

  // ModularEvo masks
  const masks = config.masks ?? new Array(modelCount).fill(undefined);
  if (masks.length !== modelCount) {
    throw new InvalidInputError(`Got ${masks.length} module masks for ${modelCount} models: give one per model`);
  }
  if (config.masks && method !== 'modularevo') {
    throw new InvalidInputError(`Module masks only apply to the modularevo method, not to ${method}`);
  }

  // Fisher and RegMean
  if (config.statistics && method !== 'fisher' && method !== 'regmean') {
    throw new InvalidInputError(`Statistics only apply to fisher and regmean, not to ${method}`);
  }
  const statistics = config.statistics ?? {};
  if (method === 'fisher' && !statistics.fisher) {
    throw new InvalidInputError('Fisher merging needs Fisher statistics: give one statistics file per model (--statistics)');
  }
  if (method === 'regmean' && !statistics.gram) {
    throw new InvalidInputError('RegMean merging needs Gram matrices: give one statistics file per model (--statistics)');
  }
  const minimalFisherWeight = requireFinite(config.minimalFisherWeight ?? DEFAULT_MINIMAL_FISHER_WEIGHT, 'minimal Fisher weight');
  if (minimalFisherWeight < 0) throw new InvalidInputError(`Invalid minimal Fisher weight ${minimalFisherWeight}: must be >= 0`);
  const reduceNonDiagonalRatio = requireRate(
    config.reduceNonDiagonalRatio ?? DEFAULT_REDUCE_NON_DIAGONAL_RATIO,
    'RegMean off-diagonal ratio',
  );

  // output and safety checks
  if (config.dtype !== undefined) requireChoice(OUTPUT_DTYPES, config.dtype, 'output dtype');
  const seed = config.seed ?? 0;
  if (!Number.isSafeInteger(seed)) throw new InvalidInputError(`Invalid seed ${seed}: use an integer`);
  const warnDistance = requireLimit(config.warnDistance ?? DEFAULT_WARN_DISTANCE, 'warning distance');
  const maxDistance = requireLimit(config.maxDistance ?? DEFAULT_MAX_DISTANCE, 'maximum distance');

  return {
    method,
    modelCount,
    coefficients: [...coefficients],
    scalingCoefficient,
    trim,
    trimScope,
    tiesThreshold,
    drop,
    dropStrategy,
    apply,
    rescale: config.rescale ?? true,
    exclude: [...(config.exclude ?? [])],
    seed,
    masks: [...masks],
    statistics,
    normalizeFisher: config.normalizeFisher ?? false,
    minimalFisherWeight,
    reduceNonDiagonalRatio,
    dtype: config.dtype,
    warnDistance,
    maxDistance,
    force: config.force ?? false,
  };
}

function requireFinite(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new InvalidInputError(`Invalid ${what} ${JSON.stringify(value)}: must be a finite number`);
  }
  return value;
}

function requireLimit(value: unknown, what: string): number {
  if (typeof value !== 'number' || Number.isNaN(value) || value < 0) {
    throw new InvalidInputError(`Invalid ${what} ${JSON.stringify(value)}: must be a number >= 0 (Infinity disables it)`);
  }
  return value;
}

function requireRate(value: unknown, what: string): number {
  const rate = requireFinite(value, what);
  if (rate < 0 || rate > 1) {
    throw new InvalidInputError(`Invalid ${what} ${rate}: must be between 0 and 1 (a fraction of entries)`);
  }
  return rate;
}

function requireChoice<T extends string>(choices: readonly T[], value: unknown, what: string): T {
  if (!isOneOf(choices, value)) {
    throw new InvalidInputError(`Invalid ${what} ${JSON.stringify(value)}: use one of ${choices.join(', ')}`);
  }
  return value;
}
