import { Command } from 'commander';

import { InvalidInputError } from '@modularevo/core-tensor';

import { DEFAULT_REDUCE_NON_DIAGONAL_RATIO, DEFAULT_TRIM, type MergeConfig } from './config';
import { mergeModelFolders, type ModelFolderMerge } from './files/merge-folders';
import {
  DARE_APPLY_METHODS,
  DEFAULT_MAX_DISTANCE,
  DROP_STRATEGIES,
  MERGE_METHODS,
  OUTPUT_DTYPES,
  TIES_THRESHOLDS,
  TRIM_SCOPES,
} from './options';
import { readRecipe, type MergeRecipe } from './recipe';

/** Option values as commander parses them (all strings, so that this file reports every bad value). */
interface MergeFlags {
  recipe?: string;
  method?: string;
  base?: string;
  models?: string;
  out?: string;
  coefficients?: string;
  scalingCoefficient?: string;
  trim?: string;
  trimScope?: string;
  tiesThreshold?: string;
  drop?: string;
  dropStrategy?: string;
  apply?: string;
  rescale?: boolean;
  exclude?: string[];
  masks?: string;
  statistics?: string;
  normalizeFisher?: boolean;
  minimalFisherWeight?: string;
  reduceNonDiagonalRatio?: string;
  seed?: string;
  dtype?: string;
  maxDistance?: string;
  force?: boolean;
  maxShardSize?: string;
}

/**
 * Builds the `merge` subcommand of `modularevo`: merges fine-tuned model folders into their base
 * model and writes a complete model folder. Settings come from flags, or from a recipe
 * (`--recipe`) whose values explicit flags override. Bad input raises a ModularEvoError.
 */
export function createMergeCommand(): Command {
  const command = new Command('merge')
    .description(
      'Merge fine-tuned models into their base model and write a Hugging Face model folder ' +
        '(merged safetensors weights, config and tokenizer files copied from the base, merge_config.json).',
    )
    .option('--recipe <file>', 'YAML or JSON merge recipe (method, base_model, models, parameters, dtype); flags override its values')
    .option('--method <name>', `merge method: ${MERGE_METHODS.join(', ')}`)
    .option('--base <dir>', 'base (pretrained) model folder, or its weights file')
    .option('--models <dirs>', 'fine-tuned model folders (or weights files), comma-separated')
    .option('--out <dir>', 'output model folder; must not exist or be empty')
    .option('--coefficients <list>', 'one coefficient per model, comma-separated; negative subtracts a task (default: 1 each, fisher 1/n)')
    .option('--scaling-coefficient <s>', 'multiplier of the merged task vector before it is added to the base (default: 1)')
    .option('--trim <rate>', `ties: fraction of each task vector dropped, smallest magnitudes first, in [0, 1] (default: ${DEFAULT_TRIM})`)
    .option(
      '--trim-scope <scope>',
      `ties: where magnitudes are ranked: ${TRIM_SCOPES[0]} (all merged tensors of a model together, as the original) ` +
        `or ${TRIM_SCOPES[1]} (each tensor alone) (default: global)`,
    )
    .option(
      '--ties-threshold <rule>',
      `ties: ${TIES_THRESHOLDS.join(' or ')}; exact-k drops exactly the trim count, inclusive keeps every entry ` +
        'equal to the threshold as the original code does (default: exact-k)',
    )
    .option('--drop <rate>', 'dare: fraction of task vector entries dropped, in [0, 1]; one rate, or one per model comma-separated')
    .option('--drop-strategy <strategy>', `dare: ${DROP_STRATEGIES.join(' (Bernoulli draws) or ')} (smallest per tensor) (default: random)`)
    .option('--apply <method>', `dare: merge applied after dropping: ${DARE_APPLY_METHODS.join(', ')} (default: task_arithmetic)`)
    .option('--no-rescale', 'dare: keep the surviving entries as they are instead of dividing them by 1 - rate')
    .option('--exclude <regex...>', 'parameters left out of the merge: regular expressions matched at the start of the name (default: none)')
    .option('--masks <dirs>', 'modularevo: module folder or mask file per model, comma-separated; leave an entry empty for a dense model')
    .option('--statistics <files>', 'fisher, regmean: statistics safetensors file per model (Fisher values or Gram matrices), comma-separated')
    .option('--normalize-fisher', 'fisher: weight each model by the inverse L2 norm of its Fisher values')
    .option('--minimal-fisher-weight <w>', 'fisher: value added to every Fisher entry (default: 1e-6)')
    .option(
      '--reduce-non-diagonal-ratio <alpha>',
      `regmean: factor on off-diagonal Gram entries, in [0, 1] (default: ${DEFAULT_REDUCE_NON_DIAGONAL_RATIO})`,
    )
    .option('--seed <n>', 'dare: seed of the random drop (integer, default: 0)')
    .option('--dtype <type>', `output dtype: ${OUTPUT_DTYPES.join(', ')} (default: each tensor's input dtype)`)
    .option(
      '--max-distance <d>',
      `fail when a model's ||ft - base|| / ||base|| exceeds this, as it is then not a fine-tune of the base (default: ${DEFAULT_MAX_DISTANCE})`,
    )
    .option('--force', 'merge even when a model exceeds --max-distance')
    .option('--max-shard-size <bytes>', 'largest output safetensors shard, in bytes (default: 5e9)')
    .action(async (flags: MergeFlags, self: Command) => {
      const request = buildRequest(flags, (name) => self.getOptionValueSource(name) === 'cli');
      const result = await mergeModelFolders(request);
      process.stdout.write(
        `Merged ${request.models.length} models with ${result.method} into ${result.out} ` +
          `(${result.mergedTensors} tensors, ${result.mergedEntries} entries merged) in ${result.seconds.toFixed(2)} s\n`,
      );
    });
  return command;
}

/** Combines the recipe (if any) and the flags into one merge request; explicit flags win. */
function buildRequest(flags: MergeFlags, given: (name: keyof MergeFlags) => boolean): ModelFolderMerge {
  const recipe: MergeRecipe = flags.recipe ? readRecipe(flags.recipe) : { config: {} };
  const config: Partial<MergeConfig> = { ...recipe.config };
  const set = <K extends keyof MergeFlags>(name: K, apply: (value: NonNullable<MergeFlags[K]>) => void) => {
    const value = flags[name];
    if (value !== undefined && (given(name) || !flags.recipe)) apply(value as NonNullable<MergeFlags[K]>);
  };

  // method and settings
  set('method', (value) => (config.method = value as MergeConfig['method']));
  set('coefficients', (value) => (config.coefficients = numberList(value, '--coefficients')));
  set('scalingCoefficient', (value) => (config.scalingCoefficient = number(value, '--scaling-coefficient')));
  set('trim', (value) => (config.trim = number(value, '--trim')));
  set('trimScope', (value) => (config.trimScope = value as MergeConfig['trimScope']));
  set('tiesThreshold', (value) => (config.tiesThreshold = value as MergeConfig['tiesThreshold']));
  set('drop', (value) => {
    const rates = numberList(value, '--drop');
    config.drop = rates.length === 1 ? rates[0] : rates;
  });
  set('dropStrategy', (value) => (config.dropStrategy = value as MergeConfig['dropStrategy']));
  set('apply', (value) => (config.apply = value as MergeConfig['apply']));
  if (given('rescale')) config.rescale = flags.rescale;
  set('exclude', (value) => (config.exclude = value));
  if (given('normalizeFisher')) config.normalizeFisher = true;
  set('minimalFisherWeight', (value) => (config.minimalFisherWeight = number(value, '--minimal-fisher-weight')));
  set('reduceNonDiagonalRatio', (value) => (config.reduceNonDiagonalRatio = number(value, '--reduce-non-diagonal-ratio')));
  set('seed', (value) => (config.seed = integer(value, '--seed')));
  set('dtype', (value) => (config.dtype = value as MergeConfig['dtype']));
  set('maxDistance', (value) => (config.maxDistance = number(value, '--max-distance')));
  if (given('force')) config.force = true;

  // inputs and output
  const base = given('base') ? flags.base : (recipe.base ?? flags.base);
  const models = given('models') ? list(flags.models!) : (recipe.models ?? (flags.models ? list(flags.models) : undefined));
  const out = given('out') ? flags.out : (recipe.out ?? flags.out);
  if (!config.method) throw new InvalidInputError(`No merge method: pass --method (${MERGE_METHODS.join(', ')}) or a recipe with method`);
  if (!base) throw new InvalidInputError('No base model: pass --base DIR or a recipe with base_model');
  if (!models || models.length === 0) throw new InvalidInputError('No models to merge: pass --models DIR[,DIR...] or a recipe with models');
  if (!out) throw new InvalidInputError('No output folder: pass --out DIR');

  return {
    base,
    models,
    out,
    config: config as MergeConfig,
    maskPaths: given('masks') ? list(flags.masks!, true) : recipe.maskPaths,
    statisticsPaths: given('statistics') ? list(flags.statistics!) : recipe.statisticsPaths,
    maxShardBytes: given('maxShardSize') ? number(flags.maxShardSize!, '--max-shard-size') : recipe.maxShardBytes,
  };
}

function list(value: string, keepEmpty = false): string[] {
  const items = value.split(',').map((item) => item.trim());
  return keepEmpty ? items : items.filter((item) => item.length > 0);
}

function number(value: string, flag: string): number {
  const parsed = Number(value);
  if (value.trim() === '' || !Number.isFinite(parsed)) throw new InvalidInputError(`Invalid ${flag} ${JSON.stringify(value)}: give a number`);
  return parsed;
}

function numberList(value: string, flag: string): number[] {
  return value.split(',').map((item) => number(item, flag));
}

function integer(value: string, flag: string): number {
  const parsed = number(value, flag);
  if (!Number.isSafeInteger(parsed)) throw new InvalidInputError(`Invalid ${flag} ${value}: give an integer`);
  return parsed;
}
