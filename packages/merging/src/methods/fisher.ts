import { InvalidInputError, MismatchError, formatShape, getLogger, toFloat32, sameShape } from '@modularevo/core-tensor';

import type { ResolvedMergeConfig } from '../config';
import type { Merger, TensorBatch } from '../engine/merger';
import { firstNonFinite, meanRows, sumOfSquares } from '../steps/combine';
import { asTensorSource, type TensorSource } from '../statistics';
import type { MergerContext } from './registry';

const log = getLogger('merging');

export type FisherSettings = Pick<ResolvedMergeConfig, 'coefficients' | 'normalizeFisher' | 'minimalFisherWeight' | 'statistics'>;

/**
 * Fisher merging: per entry, `sum_i c_i F_i theta_i / sum_i c_i F_i`, where `F_i` is model i's
 * diagonal Fisher information plus `minimalFisherWeight` and `c_i` its coefficient (default 1/n).
 * With `normalizeFisher`, each `c_i` is also scaled by the inverse L2 norm of `F_i` over all merged
 * parameters, normalized to sum to 1. Arithmetic is float32 in the original's order.
 */
export class FisherMerger implements Merger {
  readonly rowsAsDeltas = false;
  readonly wholeTensors = true;
  readonly preparePasses = 0;

  private constructor(
    private readonly sources: TensorSource[],
    private readonly scales: number[],
    private readonly epsilon: number,
  ) {}

  /** Gets each model's Fisher statistics from the provider and computes the model weights. */
  static async create(settings: FisherSettings, context: MergerContext): Promise<FisherMerger> {
    const names = context.plan.merged.map((tensor) => tensor.name);
    const sources: TensorSource[] = [];
    for (const [index, reader] of context.models.entries()) {
      const source = await settings.statistics.fisher!({ index, reader }, names);
      sources.push(asTensorSource(source, `Fisher statistics of model ${index + 1}`));
    }

    // model weights, optionally normalized by the Fisher norms
    const epsilon = Math.fround(settings.minimalFisherWeight);
    let scales = settings.coefficients.map((coefficient) => Math.fround(coefficient));
    if (settings.normalizeFisher) {
      const norms = sources.map((source) => Math.sqrt(names.reduce((sum, name) => sum + sumOfSquares(readFisher(source, name)), 0)));
      const inverses = norms.map((norm) => 1 / (norm + epsilon));
      const total = inverses.reduce((sum, value) => sum + value, 0);
      scales = scales.map((scale, model) => Math.fround(scale * Math.fround(inverses[model] / total)));
      log.info(`Fisher norms per model: ${norms.map((norm) => norm.toPrecision(4)).join(', ')}`);
    }
    return new FisherMerger(sources, scales, epsilon);
  }

  merge({ tensor, rows }: TensorBatch): Float32Array {
    const numerator = new Float32Array(tensor.numel);
    const denominator = new Float32Array(tensor.numel);

    // weighted sums over models, float32, first model to last
    rows.forEach((values, model) => {
      const fisher = readFisher(this.sources[model], tensor.name, tensor.shape);
      const scale = this.scales[model];
      for (let i = 0; i < values.length; i++) {
        const weight = Math.fround(scale * Math.fround(fisher[i] + this.epsilon));
        numerator[i] = numerator[i] + Math.fround(weight * values[i]);
        denominator[i] = denominator[i] + weight;
      }
    });

    // Entries whose weights are all zero (no epsilon, no gradient) fall back to the plain mean.
    let zeroWeights = 0;
    for (let i = 0; i < numerator.length; i++) {
      if (denominator[i] === 0) zeroWeights++;
      else numerator[i] = numerator[i] / denominator[i];
    }
    if (zeroWeights > 0) {
      const mean = new Float32Array(tensor.numel);
      meanRows(rows, mean);
      for (let i = 0; i < numerator.length; i++) if (denominator[i] === 0) numerator[i] = mean[i];
      log.warn(`Fisher weights of "${tensor.name}" are all zero at ${zeroWeights} entries; those entries are averaged`);
    }
    return numerator;
  }
}

/** Reads the Fisher values of one parameter as float32, checking shape and finiteness. */
function readFisher(source: TensorSource, name: string, shape?: readonly number[]): Float32Array {
  if (!source.has(name)) {
    throw new MismatchError(`${source.path} has no Fisher values for parameter "${name}"; compute them for every merged parameter`);
  }
  const tensor = source.read(name);
  if (shape && !sameShape(tensor.shape, shape)) {
    throw new MismatchError(`Fisher values of "${name}" in ${source.path} have shape ${formatShape(tensor.shape)}, the parameter ${formatShape(shape)}`);
  }
  const values = toFloat32(tensor.dtype, tensor.data);
  const bad = firstNonFinite(values);
  if (bad >= 0) throw new InvalidInputError(`${source.path}: Fisher values of "${name}" contain NaN or Inf (flat index ${bad})`);
  const negative = values.findIndex((value) => value < 0);
  if (negative >= 0) {
    throw new InvalidInputError(`${source.path}: Fisher values of "${name}" must be >= 0 (squared gradients) but flat index ${negative} is ${values[negative]}`);
  }
  return values;
}
