import type { CheckpointReader, StateDict } from '@modularevo/core-tensor';

import { resolveMergeConfig, type MergeConfig } from './config';
import { runMerge, type MergeSummary, type TensorSink } from './engine/run';
import { StateDictReader } from './engine/state-dict-reader';

/** Options of an in-memory merge. */
export interface StateDictMergeOptions {
  /**
   * Also return the base tensors that are not merged (excluded by pattern, or not float), so the
   * result is a complete model. Default false: only merged parameters are returned, as the
   * original merging code does; each task then keeps its own excluded head.
   */
  includeUnmerged?: boolean;
  /** Entries read per chunk of a tensor (default 2^17); a tuning knob, results do not depend on it. */
  chunkEntries?: number;
}

/**
 * Merges fine-tuned state dicts into `base` with `config.method` and returns the merged
 * parameters, in the base's order. Inputs are not modified.
 * @throws InvalidInputError for invalid settings or NaN/Inf inputs; MismatchError for models
 *   whose names or shapes differ from the base, or that are too far from it.
 */
export async function mergeStateDicts(
  base: StateDict,
  models: readonly StateDict[],
  config: MergeConfig,
  options: StateDictMergeOptions = {},
): Promise<StateDict> {
  const resolved = resolveMergeConfig(config, models.length);
  const merged: StateDict = new Map();
  // The engine reuses its output buffer, so each tensor is copied.
  const sink: TensorSink = {
    write: (name, tensor) => merged.set(name, { dtype: tensor.dtype, shape: [...tensor.shape], data: tensor.data.slice() }),
  };
  await runMerge(
    new StateDictReader(base, 'base state dict'),
    models.map((model, index) => new StateDictReader(model, `model ${index + 1} state dict`)),
    resolved,
    sink,
    { includeUnmerged: options.includeUnmerged ?? false, chunkEntries: options.chunkEntries },
  );

  // base order
  const ordered: StateDict = new Map();
  for (const name of base.keys()) {
    const tensor = merged.get(name);
    if (tensor) ordered.set(name, tensor);
  }
  return ordered;
}

/**
 * Merges checkpoints tensor by tensor and hands every output tensor to `sink`; the streaming form
 * behind model-folder merges. Peak memory is about (models + 2) times the largest tensor.
 * The sink may receive tensors before a late check fails (the distance check of single-pass
 * methods runs at the end), so commit its output only when this resolves.
 */
export async function mergeCheckpoints(
  base: CheckpointReader,
  models: readonly CheckpointReader[],
  config: MergeConfig,
  sink: TensorSink,
  options: StateDictMergeOptions = {},
): Promise<MergeSummary> {
  const resolved = resolveMergeConfig(config, models.length);
  return runMerge(base, models, resolved, sink, { includeUnmerged: options.includeUnmerged ?? false, chunkEntries: options.chunkEntries });
}

type MethodOptions = Omit<MergeConfig, 'method'>;

/** Average merging of the fine-tuned parameters (see mergeStateDicts). */
export function averageMerge(base: StateDict, models: readonly StateDict[], options: MethodOptions = {}): Promise<StateDict> {
  return mergeStateDicts(base, models, { ...options, method: 'average' });
}

/** Task arithmetic: `base + sum_i coefficients[i] * (models[i] - base)` (see mergeStateDicts). */
export function taskArithmetic(base: StateDict, models: readonly StateDict[], options: MethodOptions = {}): Promise<StateDict> {
  return mergeStateDicts(base, models, { ...options, method: 'task_arithmetic' });
}

/** TIES merging: trim, elect sign, disjoint mean (see mergeStateDicts and MergeConfig.trim). */
export function tiesMerge(base: StateDict, models: readonly StateDict[], options: MethodOptions = {}): Promise<StateDict> {
  return mergeStateDicts(base, models, { ...options, method: 'ties' });
}

/** DARE: drop and rescale task vector entries, then apply another merge (see MergeConfig.drop). */
export function dareMerge(base: StateDict, models: readonly StateDict[], options: MethodOptions): Promise<StateDict> {
  return mergeStateDicts(base, models, { ...options, method: 'dare' });
}

/** Fisher merging with statistics from `options.statistics` (see FisherMerger). */
export function fisherMerge(base: StateDict, models: readonly StateDict[], options: MethodOptions): Promise<StateDict> {
  return mergeStateDicts(base, models, { ...options, method: 'fisher' });
}

/** RegMean merging with Gram matrices from `options.statistics` (see RegMeanMerger). */
export function regmeanMerge(base: StateDict, models: readonly StateDict[], options: MethodOptions): Promise<StateDict> {
  return mergeStateDicts(base, models, { ...options, method: 'regmean' });
}

/** ModularEvo composition: task arithmetic restricted to each model's module mask (see `options.masks`). */
export function modularEvoMerge(base: StateDict, models: readonly StateDict[], options: MethodOptions = {}): Promise<StateDict> {
  return mergeStateDicts(base, models, { ...options, method: 'modularevo' });
}
