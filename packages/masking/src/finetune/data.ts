/** The splits a fine-tuning run uses: loading, a held-out validation split, and the majority-class baseline. */
import { createRng, getLogger, InvalidInputError } from '@modularevo/core-tensor';
import type { SplitName, TaskSource } from '@modularevo/datasets';

import type { ArchitectureTask, TaskDataset } from '../architecture';
import type { ResolvedFinetuneOptions } from './options';

const log = getLogger('finetune');

/** Options of {@link loadFinetuneData}. */
export interface FinetuneDataOptions {
  labels?: readonly string[];
  maxExamples?: Partial<Record<SplitName, number>>;
}

/**
 * Loads the task's data (unless it is loaded already) and checks that it has training examples.
 * When the data has no validation split, it holds out `validationFraction` of the train split
 * as validation. The draw is seeded, so a rerun holds out the same examples.
 *
 * @throws InvalidInputError when the train split is missing or empty, or holding out would empty it
 */
export async function loadFinetuneData(
  task: ArchitectureTask,
  data: TaskSource | TaskDataset,
  settings: ResolvedFinetuneOptions,
  options: FinetuneDataOptions,
): Promise<TaskDataset> {
  const loaded = isTaskDataset(data) ? data : await task.load(data, { labels: options.labels, maxExamples: options.maxExamples, seed: settings.seed });
  const train = loaded.splits.train ?? [];
  if (train.length === 0) throw new InvalidInputError(`The data of task ${task.info.name} has no train split (or it is empty); name the train file`);
  if (loaded.splits.validation?.length || settings.validationFraction === 0) return loaded;

  const heldOut = Math.round(train.length * settings.validationFraction);
  if (heldOut === 0) {
    log.warn(`${task.info.name}: ${train.length} training examples are too few to hold out ${settings.validationFraction} for validation; training without validation`);
    return loaded;
  }
  if (heldOut >= train.length) throw new InvalidInputError(`Holding out ${heldOut} of ${train.length} training examples for validation leaves none to train on; lower validationFraction`);

  const order = createRng(settings.seed).fork('validation-split').permutation(train.length);
  const validation = new Set(order.slice(0, heldOut));
  log.info(`${task.info.name}: no validation split, so ${heldOut} of ${train.length} training examples are held out for validation`);
  return {
    ...loaded,
    splits: {
      ...loaded.splits,
      train: train.filter((_, index) => !validation.has(index)),
      validation: train.filter((_, index) => validation.has(index)),
    },
  };
}

/** Accuracy of always predicting the most frequent class of a split. */
export interface MajorityBaseline {
  /** The most frequent class. */
  label: string;
  /** Its share of the split's examples, in [0, 1]. */
  accuracy: number;
  examples: number;
}

/**
 * Returns the majority-class baseline of `examples`: the share of the most frequent class, the
 * best accuracy any constant prediction reaches there. Undefined for tasks without class labels.
 */
export function majorityBaseline(task: ArchitectureTask, examples: unknown[] | undefined, labels: string[]): MajorityBaseline | undefined {
  if (!task.labelOf || !examples || examples.length === 0) return undefined;
  const counts = new Map<number, number>();
  for (const example of examples) {
    const label = task.labelOf(example);
    counts.set(label, (counts.get(label) ?? 0) + 1);
  }
  const [label, count] = [...counts].reduce((best, entry) => (entry[1] > best[1] || (entry[1] === best[1] && entry[0] < best[0]) ? entry : best));
  return { label: labels[label] ?? String(label), accuracy: count / examples.length, examples: examples.length };
}

function isTaskDataset(data: TaskSource | TaskDataset): data is TaskDataset {
  return typeof data === 'object' && data !== null && 'splits' in data && 'labels' in data;
}
