import { setLogLevel, toFloat32, type StateDict } from '@modularevo/core-tensor';

import { mergeStateDicts, tiesMerge } from '../src';
import { kthMagnitude, magnitudeOfBits } from '../src/steps/selection';
import { caseInputs, configOf, goldenCases, loadMergingFile, maxAbsDifference } from './golden-cases';

setLogLevel('warn');

// Tolerance of the fixture README for merging outputs.
const TOLERANCE = 1e-6;

function values(state: StateDict, name: string): Float32Array {
  const tensor = state.get(name)!;
  return toFloat32(tensor.dtype, tensor.data);
}

describe('golden merges of the original code', () => {
  it.each(goldenCases().map((golden) => [golden.name, golden]))('%s matches', async (_name, golden) => {
    const { base, models, expected } = caseInputs(golden);

    const merged = await mergeStateDicts(base, models, configOf(golden));

    expect([...merged.keys()].sort()).toEqual([...golden.output_keys].sort());
    for (const name of golden.output_keys) {
      expect(merged.get(name)!.shape).toEqual(expected.get(name)!.shape);
      expect(maxAbsDifference(values(merged, name), values(expected, name))).toBeLessThanOrEqual(TOLERANCE);
    }
  });
});

describe('TIES trim against the rederived thresholds', () => {
  const tiesCases = goldenCases().filter((golden) => golden.debug_rederived?.kth_abs_value_per_model);

  it.each(tiesCases.map((golden) => [golden.name, golden]))('%s kth and kept counts', (_name, golden) => {
    const debug = golden.debug_rederived!;
    const { base, models } = caseInputs(golden);
    const order: string[] = debug.flatten_order_sorted_names;

    models.forEach((model, index) => {
      // task vector flattened in sorted name order
      const parts = order.map((name) => {
        const delta = Float32Array.from(values(model, name));
        const pre = values(base, name);
        for (let i = 0; i < delta.length; i++) delta[i] = delta[i] - pre[i];
        return delta;
      });
      const kth = kthMagnitude(parts, debug.num_mask_params_k);
      const threshold = magnitudeOfBits(kth.bits);
      const keptInclusive = debug.num_total_params - kth.countLess;

      expect(threshold).toBe(debug.kth_abs_value_per_model[index]);
      expect(keptInclusive).toBe(debug['kept_count_per_model(abs>=kth)'][index]);
    });
  });

  it('exact-k default differs from the inclusive golden output', async () => {
    const golden = goldenCases().find((candidate) => candidate.name === 'ties_merging_rate_0p2');
    if (!golden) throw new Error('cases.json has no ties_merging_rate_0p2 case');
    const { base, models, expected } = caseInputs(golden);
    const { tiesThreshold: _inclusive, ...config } = configOf(golden);

    const merged = await tiesMerge(base, models, config);

    // The inclusive rule keeps 344 and 416 entries, exact-k keeps 333 of each model: outputs differ.
    const differences = golden.output_keys.map((name) => maxAbsDifference(values(merged, name), values(expected, name)));
    expect(Math.max(...differences)).toBeGreaterThan(TOLERANCE);
  });
});

describe('DARE random drop statistics', () => {
  const stats = require('@modularevo/test-support').readJsonFixture('merging', 'dare_random_stats.json');
  const args = stats.arguments;
  const base = loadMergingFile(stats.input_files[args.merged_model]);
  const models: StateDict[] = args.models_to_merge.map((model: string) => loadMergingFile(stats.input_files[model]));
  const expectedFile = loadMergingFile(stats.elementwise.file);
  const exclude: string[] = args.exclude_param_names_regex;
  const names = [...base.keys()].filter((name) => !exclude.some((pattern) => new RegExp(`^(?:${pattern})`).test(name)));
  const seeds = 400;

  function dareConfig(seed: number, coefficients: number[], drop: number[]) {
    return {
      method: 'dare' as const,
      drop,
      dropStrategy: 'random' as const,
      rescale: args.use_weight_rescale,
      apply: 'task_arithmetic' as const,
      coefficients,
      exclude,
      seed,
      force: true,
      warnDistance: Infinity,
    };
  }

  it('keeps 1 - rate of each model', async () => {
    for (const [index, model] of models.entries()) {
      const key = args.models_to_merge[index];
      const rate = args.weight_mask_rates[index];
      const fractions: number[] = [];
      for (let seed = 0; seed < seeds; seed++) {
        const merged = await mergeStateDicts(base, [model], dareConfig(seed, [1.0], [rate]));
        let kept = 0;
        let nonzero = 0;
        for (const name of names) {
          const out = values(merged, name);
          const pre = values(base, name);
          const ft = values(model, name);
          for (let i = 0; i < out.length; i++) {
            if (ft[i] !== pre[i]) nonzero++;
            if (out[i] !== pre[i]) kept++;
          }
        }
        expect(nonzero).toBe(stats.nonzero_delta_counts[key]);
        fractions.push(kept / nonzero);
      }
      const mean = fractions.reduce((sum, value) => sum + value, 0) / seeds;
      const bound = (4 * stats.kept_fraction_std[key]) / Math.sqrt(seeds);
      expect(Math.abs(mean - stats.kept_fraction_expected)).toBeLessThanOrEqual(bound);
    }
  });

  it('merged mean matches the expectation element-wise', async () => {
    const sums = new Map(names.map((name) => [name, new Float64Array(values(base, name).length)]));
    for (let seed = 0; seed < seeds; seed++) {
      const merged = await mergeStateDicts(base, models, dareConfig(seed, args.scaling_coefficients, args.weight_mask_rates));
      for (const name of names) {
        const out = values(merged, name);
        const sum = sums.get(name)!;
        for (let i = 0; i < out.length; i++) sum[i] += out[i];
      }
    }
    for (const name of names) {
      const expected = values(expectedFile, `expected_mean.${name}`);
      const std = values(expectedFile, `empirical_std.${name}`);
      const sum = sums.get(name)!;
      for (let i = 0; i < expected.length; i++) {
        const bound = (5 * std[i]) / Math.sqrt(seeds) + 1e-6;
        expect(Math.abs(sum[i] / seeds - expected[i])).toBeLessThanOrEqual(bound);
      }
    }
  });

  it('same seed reproduces, another seed differs', async () => {
    const config = dareConfig(7, args.scaling_coefficients, args.weight_mask_rates);
    const first = await mergeStateDicts(base, models, config);
    const again = await mergeStateDicts(base, models, config);
    const other = await mergeStateDicts(base, models, { ...config, seed: 8 });

    const differs = names.some((name) => maxAbsDifference(values(first, name), values(other, name)) > 0);
    for (const name of names) expect(values(again, name)).toEqual(values(first, name));
    expect(differs).toBe(true);
  });
});
