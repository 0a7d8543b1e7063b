import * as fs from 'fs';

import { InvalidInputError } from '@modularevo/core-tensor';
import { parse as parseYaml } from 'yaml';

import type { MergeConfig, ResolvedMergeConfig } from './config';
import type { ModelFolderMerge } from './files/merge-folders';
import { OUTPUT_DTYPES, isOneOf, type OutputDType } from './options';

/**
 * Merge recipes: YAML or JSON files in the spirit of MergeKit configurations.
 *
 * ```yaml
 * method: ties                # or merge_method
 * base_model: ./gpt-neo-125m
 * models:
 *   - model: ./math
 *     parameters: { weight: 0.8 }
 *   - model: ./law
 *     parameters: { weight: 1.0, mask: ./modules/law }
 * parameters:
 *   trim: 0.75                # or density: 0.25 (MergeKit: the fraction kept)
 *   scaling_coefficient: 1.0  # or lambda
 *   exclude: [".*classification.*"]
 * dtype: F16                  # or float16
 * out: ./merged
 * ```
 *
 * Keys use the option names of the CLI with underscores. Relative paths are taken as written,
 * that is relative to the working directory, as MergeKit does.
 */
export type MergeRecipe = Partial<Omit<ModelFolderMerge, 'config'>> & { config: Partial<MergeConfig> };

const TOP_KEYS = ['method', 'merge_method', 'base_model', 'models', 'parameters', 'dtype', 'out', 'max_shard_size'];
const MODEL_KEYS = ['model', 'parameters'];
const MODEL_PARAMETER_KEYS = ['weight', 'coefficient', 'drop', 'density', 'mask', 'statistics'];
const PARAMETER_KEYS = [
  'coefficients',
  'scaling_coefficient',
  'lambda',
  'trim',
  'density',
  'trim_scope',
  'ties_threshold',
  'drop',
  'drop_strategy',
  'apply',
  'rescale',
  'exclude',
  'seed',
  'normalize_fisher',
  'minimal_fisher_weight',
  'reduce_non_diagonal_ratio',
  'warn_distance',
  'max_distance',
  'force',
];
const DTYPE_ALIASES: Record<string, OutputDType> = { float32: 'F32', float16: 'F16', bfloat16: 'BF16' };

/** Reads a recipe file (`.json` as JSON, anything else as YAML). Throws an InvalidInputError naming the file and key. */
export function readRecipe(file: string): MergeRecipe {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new InvalidInputError(`Cannot read recipe ${file}: ${(error as Error).message}`);
  }
  let document: unknown;
  try {
    document = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new InvalidInputError(`Recipe ${file} is not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(error as Error).message}`);
  }
  return parseRecipe(document, file);
}

/** Converts a parsed recipe document into merge settings. */
export function parseRecipe(document: unknown, file: string): MergeRecipe {
  const top = objectAt(document, file, 'the recipe');
  checkKeys(top, TOP_KEYS, file, 'the recipe');
  const recipe: MergeRecipe = { config: {} };

  // method, base and output
  const method = top.method ?? top.merge_method;
  if (method !== undefined) recipe.config.method = stringAt(method, file, 'method') as MergeConfig['method'];
  if (top.base_model !== undefined) recipe.base = stringAt(top.base_model, file, 'base_model');
  if (top.out !== undefined) recipe.out = stringAt(top.out, file, 'out');
  if (top.dtype !== undefined) recipe.config.dtype = dtypeAt(top.dtype, file);
  if (top.max_shard_size !== undefined) recipe.maxShardBytes = numberAt(top.max_shard_size, file, 'max_shard_size');

  // shared parameters
  if (top.parameters !== undefined) readParameters(objectAt(top.parameters, file, 'parameters'), recipe.config, file);

  // models with their own parameters
  if (top.models !== undefined) readModels(top.models, recipe, file);
  return recipe;
}

function readParameters(parameters: Record<string, unknown>, config: Partial<MergeConfig>, file: string): void {
  checkKeys(parameters, PARAMETER_KEYS, file, 'parameters');
  const at = (key: string) => `parameters.${key}`;
  const get = (key: string) => parameters[key];

  if (get('coefficients') !== undefined) config.coefficients = numberListAt(get('coefficients'), file, at('coefficients'));
  const scaling = get('scaling_coefficient') ?? get('lambda');
  if (scaling !== undefined) config.scalingCoefficient = numberAt(scaling, file, at('scaling_coefficient'));
  if (get('trim') !== undefined) config.trim = numberAt(get('trim'), file, at('trim'));
  if (get('density') !== undefined) {
    // MergeKit's density is the fraction kept: TIES trims, DARE drops the rest.
    const rest = 1 - numberAt(get('density'), file, at('density'));
    if (config.method === 'dare') config.drop = rest;
    else config.trim = rest;
  }
  if (get('trim_scope') !== undefined) config.trimScope = stringAt(get('trim_scope'), file, at('trim_scope')) as MergeConfig['trimScope'];
  if (get('ties_threshold') !== undefined) {
    config.tiesThreshold = stringAt(get('ties_threshold'), file, at('ties_threshold')) as MergeConfig['tiesThreshold'];
  }
  if (get('drop') !== undefined) {
    const drop = get('drop');
    config.drop = Array.isArray(drop) ? numberListAt(drop, file, at('drop')) : numberAt(drop, file, at('drop'));
  }
  if (get('drop_strategy') !== undefined) {
    config.dropStrategy = stringAt(get('drop_strategy'), file, at('drop_strategy')) as MergeConfig['dropStrategy'];
  }
  if (get('apply') !== undefined) config.apply = stringAt(get('apply'), file, at('apply')) as MergeConfig['apply'];
  if (get('rescale') !== undefined) config.rescale = booleanAt(get('rescale'), file, at('rescale'));
  if (get('exclude') !== undefined) {
    const exclude = get('exclude');
    config.exclude = Array.isArray(exclude) ? exclude.map((item, i) => stringAt(item, file, `${at('exclude')}[${i}]`)) : [stringAt(exclude, file, at('exclude'))];
  }
  if (get('seed') !== undefined) config.seed = numberAt(get('seed'), file, at('seed'));
  if (get('normalize_fisher') !== undefined) config.normalizeFisher = booleanAt(get('normalize_fisher'), file, at('normalize_fisher'));
  if (get('minimal_fisher_weight') !== undefined) {
    config.minimalFisherWeight = numberAt(get('minimal_fisher_weight'), file, at('minimal_fisher_weight'));
  }
  if (get('reduce_non_diagonal_ratio') !== undefined) {
    config.reduceNonDiagonalRatio = numberAt(get('reduce_non_diagonal_ratio'), file, at('reduce_non_diagonal_ratio'));
  }
  if (get('warn_distance') !== undefined) config.warnDistance = numberAt(get('warn_distance'), file, at('warn_distance'));
  if (get('max_distance') !== undefined) config.maxDistance = numberAt(get('max_distance'), file, at('max_distance'));
  if (get('force') !== undefined) config.force = booleanAt(get('force'), file, at('force'));
}

function readModels(value: unknown, recipe: MergeRecipe, file: string): void {
  if (!Array.isArray(value) || value.length === 0) {
    throw new InvalidInputError(`${file}: "models" must be a non-empty list of { model: PATH, parameters: {...} }`);
  }
  const entries = value.map((item, index) => {
    const where = `models[${index}]`;
    const entry = typeof item === 'string' ? { model: item } : objectAt(item, file, where);
    checkKeys(entry, MODEL_KEYS, file, where);
    const parameters = entry.parameters === undefined ? {} : objectAt(entry.parameters, file, `${where}.parameters`);
    checkKeys(parameters, MODEL_PARAMETER_KEYS, file, `${where}.parameters`);
    return { where, path: stringAt(entry.model, file, `${where}.model`), parameters };
  });
  recipe.models = entries.map((entry) => entry.path);

  // per-model values must be given for every model or for none
  const column = (keys: string[], read: (value: unknown, where: string) => unknown) => {
    const values = entries.map((entry) => {
      const key = keys.find((candidate) => entry.parameters[candidate] !== undefined);
      return key === undefined ? undefined : read(entry.parameters[key], `${entry.where}.parameters.${key}`);
    });
    if (values.every((item) => item === undefined)) return undefined;
    const missing = values.findIndex((item) => item === undefined);
    if (missing >= 0) throw new InvalidInputError(`${file}: models[${missing}] has no ${keys[0]}; give it for every model or for none`);
    return values;
  };
  const weights = column(['weight', 'coefficient'], (item, where) => numberAt(item, file, where)) as number[] | undefined;
  if (weights) recipe.config.coefficients = weights;
  const drops = column(['drop', 'density'], (item, where) => {
    const number = numberAt(item, file, where);
    return where.endsWith('.density') ? 1 - number : number;
  }) as number[] | undefined;
  if (drops) recipe.config.drop = drops;
  const masks = entries.map((entry) => entry.parameters.mask);
  if (masks.some((mask) => mask !== undefined)) {
    recipe.maskPaths = masks.map((mask, index) => (mask === undefined ? undefined : stringAt(mask, file, `models[${index}].parameters.mask`)));
  }
  const statistics = column(['statistics'], (item, where) => stringAt(item, file, where)) as string[] | undefined;
  if (statistics) recipe.statisticsPaths = statistics;
}

function checkKeys(object: Record<string, unknown>, known: string[], file: string, where: string): void {
  for (const key of Object.keys(object)) {
    if (!known.includes(key)) {
      throw new InvalidInputError(`${file}: unknown key "${key}" in ${where}; known keys: ${known.join(', ')}`);
    }
  }
}

function objectAt(value: unknown, file: string, where: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidInputError(`${file}: ${where} must be a mapping of keys to values`);
  }
  return value as Record<string, unknown>;
}

function stringAt(value: unknown, file: string, where: string): string {
  if (typeof value !== 'string' || value.length === 0) throw new InvalidInputError(`${file}: ${where} must be a non-empty string`);
  return value;
}

function numberAt(value: unknown, file: string, where: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new InvalidInputError(`${file}: ${where} must be a number, not ${JSON.stringify(value)}`);
  }
  return value;
}

function numberListAt(value: unknown, file: string, where: string): number[] {
  if (!Array.isArray(value)) throw new InvalidInputError(`${file}: ${where} must be a list of numbers`);
  return value.map((item, index) => numberAt(item, file, `${where}[${index}]`));
}

function booleanAt(value: unknown, file: string, where: string): boolean {
  if (typeof value !== 'boolean') throw new InvalidInputError(`${file}: ${where} must be true or false`);
  return value;
}

function dtypeAt(value: unknown, file: string): OutputDType {
  const name = stringAt(value, file, 'dtype');
  const dtype = DTYPE_ALIASES[name] ?? name;
  if (!isOneOf(OUTPUT_DTYPES, dtype)) {
    throw new InvalidInputError(`${file}: dtype ${JSON.stringify(name)} is not one of ${OUTPUT_DTYPES.join(', ')} (or float32, float16, bfloat16)`);
  }
  return dtype;
}

/** Returns the recipe that reproduces a merge; merged model folders keep it as `merge_config.json`. */
export function recipeOf(request: ModelFolderMerge, config: ResolvedMergeConfig): Record<string, unknown> {
  const ties = config.method === 'ties' || (config.method === 'dare' && config.apply === 'ties');
  const parameters: Record<string, unknown> = {
    scaling_coefficient: config.scalingCoefficient,
    trim: ties ? config.trim : undefined,
    trim_scope: ties ? config.trimScope : undefined,
    ties_threshold: ties ? config.tiesThreshold : undefined,
    drop_strategy: config.method === 'dare' ? config.dropStrategy : undefined,
    apply: config.method === 'dare' ? config.apply : undefined,
    rescale: config.method === 'dare' ? config.rescale : undefined,
    exclude: config.exclude,
    seed: config.seed,
    normalize_fisher: config.method === 'fisher' ? config.normalizeFisher : undefined,
    minimal_fisher_weight: config.method === 'fisher' ? config.minimalFisherWeight : undefined,
    reduce_non_diagonal_ratio: config.method === 'regmean' ? config.reduceNonDiagonalRatio : undefined,
    max_distance: config.maxDistance,
    force: config.force,
  };
  const drops = config.drop;
  return {
    method: config.method,
    base_model: request.base,
    models: request.models.map((model, index) => ({
      model,
      parameters: {
        weight: config.coefficients[index],
        drop: config.method === 'dare' ? drops?.[index] : undefined,
        mask: request.maskPaths?.[index],
        statistics: request.statisticsPaths?.[index],
      },
    })),
    parameters,
    dtype: config.dtype,
  };
}
