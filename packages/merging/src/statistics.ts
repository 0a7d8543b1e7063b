import {
  CheckpointError,
  InvalidInputError,
  type CheckpointReader,
  type RawTensor,
  type StateDict,
} from '@modularevo/core-tensor';

/**
 * Data statistics that Fisher merging and RegMean need. The merge math lives here; computing the
 * statistics needs a forward (and backward) pass, so architecture packages provide them through a
 * StatisticsProvider.
 */

/** Read access to named statistic tensors (a checkpoint reader such as a safetensors file fits). */
export interface TensorSource {
  /** File or label of the tensors' origin, for messages. */
  readonly path: string;
  has(name: string): boolean;
  read(name: string): RawTensor;
}

/** Statistic tensors as a reader or as a state dict held in memory. */
export type StatisticsSource = TensorSource | StateDict;

/** One fine-tuned model, as the merge hands it to a statistics callback. */
export interface ModelHandle {
  /** Position of the model in the merge (0-based). */
  index: number;
  /** The model's weights. */
  reader: CheckpointReader;
}

/**
 * Computes the statistics of one fine-tuned model from data. Implemented by the architecture
 * packages (they own the forward pass); the merge calls each function once per model.
 */
export interface StatisticsProvider {
  /**
   * Diagonal Fisher information of each parameter: the mean over examples of the squared
   * gradient of the log-likelihood, keyed by parameter name, with the parameter's shape.
   * `parameters` lists the names being merged.
   */
  fisher?(model: ModelHandle, parameters: readonly string[]): StatisticsSource | Promise<StatisticsSource>;
  /**
   * Gram matrix of the inputs of each linear layer, `X^T X / rows` over all input rows, shape
   * `[inFeatures, inFeatures]`, keyed by the layer's module name (`transformer.h.0.mlp.c_fc` for
   * the parameter `transformer.h.0.mlp.c_fc.weight`). Parameters without a Gram matrix are averaged.
   */
  gram?(model: ModelHandle, parameters: readonly string[]): StatisticsSource | Promise<StatisticsSource>;
}

/** Returns a provider that serves precomputed statistics, one source per model. */
export function statisticsFromSources(sources: { fisher?: StatisticsSource[]; gram?: StatisticsSource[] }): StatisticsProvider {
  const pick = (list: StatisticsSource[], kind: string) => (model: ModelHandle) => {
    const source = list[model.index];
    if (source === undefined) {
      throw new InvalidInputError(`No ${kind} statistics for model ${model.index + 1} (${model.reader.path}): give one source per model`);
    }
    return source;
  };
  return {
    fisher: sources.fisher ? pick(sources.fisher, 'Fisher') : undefined,
    gram: sources.gram ? pick(sources.gram, 'Gram') : undefined,
  };
}

/** Wraps a state dict as a TensorSource; a TensorSource is returned as is. */
export function asTensorSource(source: StatisticsSource, label: string): TensorSource {
  if (!(source instanceof Map)) return source;
  return {
    path: label,
    has: (name) => source.has(name),
    read: (name) => {
      const tensor = source.get(name);
      if (!tensor) throw new CheckpointError(label, `tensor "${name}" not found`);
      return tensor;
    },
  };
}
