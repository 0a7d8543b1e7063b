/**
 * Loading what `modularevo cost` measures: the task model (a fine-tuned task folder, or a base
 * model with a fresh head), its data, and the module, checked against the model's base.
 */
import * as fs from 'fs';
import * as path from 'path';

import { getLogger, InvalidInputError, MismatchError } from '@modularevo/core-tensor';
import type { SplitName } from '@modularevo/datasets';
import {
  checkSameBaseModel,
  describeBaseModel,
  type Architecture,
  type ArchitectureTask,
  type Module,
  type PretrainedModel,
  type TaskDataset,
  type TaskModel,
} from '@modularevo/masking';

import { fineTuneUpdates, type UpdateReport } from '../accounting';

const log = getLogger('cost');

/** File a fine-tuned task model folder has and a base model folder lacks. */
export const TASK_FILE = 'task.json';

/** Splits tried in this order for the measured examples. */
const SPLIT_ORDER: SplitName[] = ['test', 'validation', 'train'];

/** A loaded task model with the examples to measure it on. */
export interface LoadedTask {
  model: TaskModel;
  /** `fine-tuned` for a task folder, `base with a fresh head` for a base model folder. */
  kind: 'fine-tuned' | 'base with a fresh head';
  split: SplitName;
  examples: unknown[];
}

/**
 * Loads the task model in `modelDir` and the first `maxExamples` examples of the first split of
 * `data` that has any (test, then validation, then train). A folder with `task.json` is a
 * fine-tuned task model; any other folder is a base model, which gets a fresh head (seed 0).
 *
 * @throws InvalidInputError when the data has no examples in any split.
 */
export async function loadTask(
  architecture: Architecture,
  task: ArchitectureTask,
  modelDir: string,
  data: string,
  maxExamples: number,
): Promise<LoadedTask> {
  const limit = { train: maxExamples, validation: maxExamples, test: maxExamples };
  const fineTuned = fs.existsSync(path.join(modelDir, TASK_FILE));

  let model: TaskModel;
  let dataset: TaskDataset;
  if (fineTuned) {
    model = await task.loadModel(modelDir);
    dataset = await task.load(data, { labels: model.labels.length > 0 ? model.labels : undefined, maxExamples: limit, seed: 0 });
  } else {
    dataset = await task.load(data, { maxExamples: limit, seed: 0 });
    model = task.createModel(await architecture.load(modelDir), dataset, { seed: 0 });
  }

  const split = SPLIT_ORDER.find((name) => (dataset.splits[name]?.length ?? 0) > 0);
  if (!split) {
    model.dispose();
    throw new InvalidInputError(`No ${task.info.name} examples found in ${data}: every split is empty; pass a file or folder with examples`);
  }
  return { model, kind: fineTuned ? 'fine-tuned' : 'base with a fresh head', split, examples: dataset.splits[split]! };
}

/** Method of the module's base-model check, and the fine-tune's changes when known. */
export interface BaseCheck {
  /** `weights SHA-256` when the hash was compared; `config and shapes` otherwise. */
  method: 'weights SHA-256' | 'config and shapes';
  /** Fine-tuned entries relative to `--base`, when both are known. */
  updates?: UpdateReport;
}

/**
 * Checks that `module` was learned on the base of `loaded`. A base model folder is hashed as the
 * module records it (`describeBaseModel` over `config.json` and the state dict). A fine-tuned
 * model's weights differ from its base, so its base is hashed from `baseDir`; without one only
 * the model type is compared (shapes are checked when the plan is built) and a warning is logged.
 *
 * @throws MismatchError when the module was learned on another base model.
 */
export async function checkModuleBase(
  architecture: Architecture,
  loaded: LoadedTask,
  module: Module,
  moduleDir: string,
  baseDir: string | undefined,
): Promise<BaseCheck> {
  const subject = `Module ${moduleDir}`;
  if (loaded.kind !== 'fine-tuned') {
    checkSameBaseModel(subject, module.baseModel, identityOf(loaded.model.base));
    return { method: 'weights SHA-256' };
  }

  if (baseDir !== undefined) {
    const base = await architecture.load(baseDir);
    try {
      checkSameBaseModel(subject, module.baseModel, identityOf(base));
      return { method: 'weights SHA-256', updates: fineTuneUpdates(base.stateDict(), loaded.model.base.stateDict(), module) };
    } finally {
      base.dispose();
    }
  }

  const recorded = module.baseModel.config.model_type;
  const actual = loaded.model.base.configJson.model_type;
  if (recorded !== actual) {
    throw new MismatchError(
      `${subject} was learned on a ${String(recorded)} model, but the model is ${String(actual)}; use a module learned on this model's base`,
    );
  }
  log.warn(`${subject}: only the model type and parameter shapes were checked against the fine-tuned model; pass --base to compare the base weights hash`);
  return { method: 'config and shapes' };
}

function identityOf(model: PretrainedModel): { config: Record<string, unknown>; weightsSha256: string } {
  return describeBaseModel(model.configJson, model.stateDict());
}
