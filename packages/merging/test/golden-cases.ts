/**
 * Reads the golden merges of the original ModularEvo merging code (`merging/cases.json` in the
 * fixtures) and translates each case's Python arguments into a MergeConfig.
 */
import * as path from 'path';

import { loadSafetensors, type StateDict } from '@modularevo/core-tensor';
import { fixture, readJsonFixture } from '@modularevo/test-support';

import type { MergeConfig } from '../src';

/** One case of `cases.json`, as far as the tests read it. */
export interface GoldenCase {
  name: string;
  method: string;
  arguments: Record<string, any> & { merged_model: string; models_to_merge: string[] };
  input_files: Record<string, string>;
  output_file: string;
  output_keys: string[];
  debug_rederived?: Record<string, any>;
}

/** Returns every case of `merging/cases.json`. */
export function goldenCases(): GoldenCase[] {
  const cases = readJsonFixture<{ cases: GoldenCase[] }>('merging', 'cases.json').cases;
  if (cases.length === 0) throw new Error(`No cases in ${fixture('merging', 'cases.json')}`);
  return cases;
}

/** Loads a state dict named by a path relative to the merging fixtures. */
export function loadMergingFile(relative: string): StateDict {
  return loadSafetensors(fixture('merging', ...relative.split('/')));
}

/** Returns the base model, the fine-tuned models and the expected output of a case. */
export function caseInputs(golden: GoldenCase): { base: StateDict; models: StateDict[]; expected: StateDict } {
  const args = golden.arguments;
  return {
    base: loadMergingFile(golden.input_files[args.merged_model]),
    models: args.models_to_merge.map((model) => loadMergingFile(golden.input_files[model])),
    expected: loadMergingFile(golden.output_file),
  };
}

const APPLY_METHODS: Record<string, MergeConfig['apply']> = {
  task_arithmetic: 'task_arithmetic',
  ties_merging: 'ties',
  average_merging: 'average',
};

/**
 * Translates the original's `get_merged_model` arguments into a MergeConfig. TIES uses the
 * original's inclusive threshold. The fixtures' synthetic models are far from their base, so the
 * distance check is forced.
 */
export function configOf(golden: GoldenCase): MergeConfig {
  const args = golden.arguments;
  const common = { exclude: args.exclude_param_names_regex as string[], force: true, warnDistance: Infinity };
  switch (golden.method) {
    case 'average_merging':
      return { ...common, method: 'average' };
    case 'task_arithmetic':
      return { ...common, method: 'task_arithmetic', coefficients: args.scaling_coefficients };
    case 'ties_merging':
      return {
        ...common,
        method: 'ties',
        coefficients: args.scaling_coefficients,
        trim: args.param_value_mask_rate,
        scalingCoefficient: args.scaling_coefficient,
        tiesThreshold: 'inclusive',
      };
    case 'mask_merging': {
      if (args.weight_format !== 'delta_weight') throw new Error(`${golden.name}: unsupported weight_format ${args.weight_format}`);
      const apply = APPLY_METHODS[args.mask_apply_method];
      if (!apply) throw new Error(`${golden.name}: unsupported mask_apply_method ${args.mask_apply_method}`);
      return {
        ...common,
        method: 'dare',
        drop: args.weight_mask_rates,
        rescale: args.use_weight_rescale,
        dropStrategy: args.mask_strategy,
        apply,
        coefficients: apply === 'average' ? undefined : args.scaling_coefficients,
      };
    }
    default:
      throw new Error(`${golden.name}: unknown method ${golden.method} in ${path.join('merging', 'cases.json')}`);
  }
}

/** Returns the largest absolute difference between two float32 arrays of equal length. */
export function maxAbsDifference(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < expected.length; i++) max = Math.max(max, Math.abs(actual[i] - expected[i]));
  return max;
}
