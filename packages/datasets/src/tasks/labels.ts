import { getLogger, InvalidInputError, MismatchError } from '@modularevo/core-tensor';

import type { SplitName } from './types';

const log = getLogger('datasets');

/** A label value with the place it was read from, for error messages. */
export interface LabelOccurrence {
  value: string;
  /** `file:line` or `file row N`. */
  where: string;
  split: SplitName;
}

/**
 * Returns the label set of a task: `fixed` when the caller gives one (for example the labels
 * saved with a fine-tuned model), else the sorted set of every label seen over all splits, as
 * ModularEvo's `create_label_mapping` builds it.
 *
 * Throws `MismatchError` naming the place of the first label that is not in `fixed`, and
 * `InvalidInputError` when the set has fewer than two classes. Warns when the training split
 * covers fewer than two classes.
 */
export function resolveLabels(task: string, occurrences: LabelOccurrence[], fixed?: readonly string[]): string[] {
  const labels = fixed ? [...fixed] : [...new Set(occurrences.map((o) => o.value))].sort();

  if (fixed) {
    const known = new Set(fixed);
    const unknown = occurrences.find((o) => !known.has(o.value));
    if (unknown) {
      throw new MismatchError(
        `${unknown.where}: label "${unknown.value}" of task ${task} is not in the label set (${fixed.join(', ')}); use data with the same classes or train a new head`,
      );
    }
  }
  if (labels.length < 2) {
    throw new InvalidInputError(`Task ${task} has only one class (${labels.join(', ') || 'none'}): a classifier needs at least two`);
  }

  const trainClasses = new Set(occurrences.filter((o) => o.split === 'train').map((o) => o.value));
  if (trainClasses.size === 1) log.warn(`task ${task}: the train split has examples of one class only (${[...trainClasses][0]})`);
  return labels;
}

/** Returns the class id of every occurrence under `labels`. */
export function labelIds(occurrences: LabelOccurrence[], labels: string[]): number[] {
  const index = new Map(labels.map((label, id) => [label, id]));
  return occurrences.map((o) => index.get(o.value)!);
}
