/**
 * The parameters fine-tuning trains. The task head always trains in full. The base model trains
 * in full, or under a module only where the module's mask is 1, with the rest following the
 * architecture's policy (frozen by default).
 */
import type * as tf from '@tensorflow/tfjs-core';
import { getLogger, numel } from '@modularevo/core-tensor';

import type { Architecture, TaskModel } from '../architecture';
import { countRetained } from '../bit-packing';
import { moduleGradientMasks } from '../gradient-masks';
import type { Module } from '../module';

const log = getLogger('finetune');

/** Counts of what trains, for logs and the run summary. */
export interface TrainableCounts {
  /** Base parameter tensors that train where their mask is 1. */
  maskedTensors: number;
  /** Base parameter tensors that train in full. */
  fullTensors: number;
  /** Base parameter tensors that stay frozen. */
  frozenTensors: number;
  headTensors: number;
  /** Base parameter entries that may change. */
  trainableBaseEntries: number;
  /** All base parameter entries. */
  baseEntries: number;
}

/** The variables to train and the gradient masks of the masked ones. */
export interface TrainableParameters {
  parameters: tf.Variable[];
  /** 0/1 float32 masks keyed by tfjs variable name, as `train` takes them; the caller disposes them. */
  gradientMasks: Map<string, tf.Tensor>;
  counts: TrainableCounts;
}

/**
 * Chooses the parameters to train. Without a module every base parameter trains. With one, a
 * base parameter the module masks trains where its mask is 1, and not at all when every entry
 * is 0. A parameter without a mask entry trains in full only when the architecture sets
 * `moduleFineTuning.trainUnmaskedParameters`. The `moduleFineTuning.frozenParameters` never train.
 */
export function trainableParameters(architecture: Architecture, model: TaskModel, module: Module | undefined): TrainableParameters {
  const counts: TrainableCounts = { maskedTensors: 0, fullTensors: 0, frozenTensors: 0, headTensors: model.head.size, trainableBaseEntries: 0, baseEntries: 0 };
  const parameters: tf.Variable[] = [...model.head.values()];
  const masked: string[] = [];
  const policy = architecture.moduleFineTuning ?? {};
  const frozen = new Set(policy.frozenParameters ?? []);

  for (const [name, variable] of model.base.params) {
    const entries = numel(variable.shape);
    counts.baseEntries += entries;
    const mask = module?.masks.get(name);

    if (!module) {
      counts.fullTensors += 1;
      counts.trainableBaseEntries += entries;
      parameters.push(variable);
    } else if (frozen.has(name) || (mask && countRetained(mask) === 0) || (!mask && !policy.trainUnmaskedParameters)) {
      counts.frozenTensors += 1;
    } else if (mask) {
      counts.maskedTensors += 1;
      counts.trainableBaseEntries += countRetained(mask);
      masked.push(name);
      parameters.push(variable);
    } else {
      counts.fullTensors += 1;
      counts.trainableBaseEntries += entries;
      parameters.push(variable);
    }
  }

  // AdamW keys gradient masks by tfjs variable name
  const byParameter = module ? moduleGradientMasks(module, masked) : new Map<string, tf.Tensor>();
  const gradientMasks = new Map([...byParameter].map(([name, mask]) => [model.base.params.get(name)!.name, mask]));

  if (module) {
    const unused = [...module.masks.keys()].filter((name) => !model.base.params.has(name));
    if (unused.length > 0) log.debug(`masks of ${unused.join(', ')} name no trainable parameter (tied or head names) and are not applied`);
  }
  log.info(
    `training ${counts.headTensors} head tensors in full and ${counts.maskedTensors + counts.fullTensors} of ${model.base.params.size} base tensors ` +
      `(${counts.maskedTensors} under the module's masks, ${counts.fullTensors} in full, ${counts.frozenTensors} frozen): ` +
      `${((100 * counts.trainableBaseEntries) / Math.max(1, counts.baseEntries)).toFixed(2)}% of the base entries can change`,
  );
  return { parameters, gradientMasks, counts };
}
