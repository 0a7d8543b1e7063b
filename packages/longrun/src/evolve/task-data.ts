/**
 * The tasks of a run, read and checked before any training: their splits, label sets and
 * per-stage training shards. Reading is seeded, so every process that works on a run (the
 * first one and every resume) gets the same examples in the same shards.
 */
import { InvalidInputError, type Rng } from '@modularevo/core-tensor';
import { stageShards, type SplitName } from '@modularevo/datasets';
import type { Architecture, ArchitectureTask, TaskDataset } from '@modularevo/masking';

import type { EvolveSettings, TaskSettings } from '../config/settings';

/** A task with its data, ready for the stages. */
export interface PreparedTask {
  settings: TaskSettings;
  task: ArchitectureTask;
  /** Every split as read (train whole; validation and test capped by the data settings). */
  data: TaskDataset;
  /** The training examples of each stage, disjoint. */
  shards: unknown[][];
}

/**
 * Reads every task's data and cuts its training split into one shard per stage.
 *
 * @throws CheckpointError when a data file is missing or does not parse
 * @throws InvalidInputError when a task lacks a split, has fewer than two classes, or has fewer
 *   training examples than stages
 */
export async function prepareTasks(architecture: Architecture, settings: EvolveSettings, rng: Rng): Promise<PreparedTask[]> {
  const prepared: PreparedTask[] = [];
  for (const taskSettings of settings.tasks) {
    const task = architecture.tasks[taskSettings.name];
    const maxExamples: Partial<Record<SplitName, number>> = {};
    if (settings.data.trainExamples !== undefined) maxExamples.train = settings.data.trainExamples;
    if (settings.data.validationExamples !== undefined) maxExamples.validation = settings.data.validationExamples;
    if (settings.data.testExamples !== undefined) maxExamples.test = settings.data.testExamples;

    const data = await task.load(taskSettings.source, { maxExamples, seed: rng.fork(`data/${taskSettings.name}`).seed });
    checkSplits(taskSettings, data);
    checkClasses(taskSettings, task, data);
    const shards = stageShards(data.splits.train!, settings.stages, rng.fork(`shards/${taskSettings.name}`));
    prepared.push({ settings: taskSettings, task, data, shards });
  }
  return prepared;
}

function checkSplits(settings: TaskSettings, data: TaskDataset): void {
  for (const split of ['train', 'validation', 'test'] as const) {
    if ((data.splits[split]?.length ?? 0) > 0) continue;
    const hint =
      split === 'validation'
        ? 'the grid search chooses coefficients on it; name a file for it, for example --task NAME=train:FILE,validation:FILE,test:FILE'
        : `name a file for it, for example --task NAME=train:FILE,validation:FILE,test:FILE`;
    throw new InvalidInputError(`Task ${settings.name} has no ${split} examples in ${describeSource(settings.source)}; ${hint}`);
  }
}

/** A classification task needs at least two classes overall and in its training split. */
function checkClasses(settings: TaskSettings, task: ArchitectureTask, data: TaskDataset): void {
  if (data.labels.length === 0) return;
  if (data.labels.length < 2) {
    throw new InvalidInputError(
      `Task ${settings.name} has only one class (${JSON.stringify(data.labels[0])}) in ${describeSource(settings.source)}; a classification task needs at least two`,
    );
  }
  if (!task.labelOf) return;

  const trainClasses = new Set(data.splits.train!.map((example) => task.labelOf!(example)));
  if (trainClasses.size < 2) {
    const only = data.labels[[...trainClasses][0]];
    throw new InvalidInputError(
      `The training split of task ${settings.name} has only one class (${JSON.stringify(only)}) in ${describeSource(settings.source)}; it needs examples of at least two classes`,
    );
  }
}

/** Describes a task source for messages. */
export function describeSource(source: TaskSettings['source']): string {
  if (typeof source === 'string') return source;
  return Object.entries(source)
    .map(([split, file]) => `${split} ${file}`)
    .join(', ');
}
