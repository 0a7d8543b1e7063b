import { labelIds, resolveLabels, type LabelOccurrence } from './labels';
import type { ClassificationExample, PairExample, SplitName, TaskData, TaskDefinition } from './types';

/** A classification example before its label is numbered. */
export interface LabelledRow {
  split: SplitName;
  id: string;
  text: string;
  textPair?: string;
  label: string;
  /** Source of the row (file and line), for error messages. */
  where: string;
}

/**
 * Numbers the labels of `rows` (see {@link resolveLabels}) and groups the examples by split, in
 * reading order.
 */
export function toClassificationData<E extends ClassificationExample | PairExample>(
  task: TaskDefinition,
  rows: LabelledRow[],
  fixedLabels?: readonly string[],
): TaskData<E> {
  const occurrences: LabelOccurrence[] = rows.map((row) => ({ value: row.label, where: row.where, split: row.split }));
  const labels = resolveLabels(task.name, occurrences, fixedLabels ?? task.labels);
  const ids = labelIds(occurrences, labels);

  const splits: Partial<Record<SplitName, E[]>> = {};
  rows.forEach((row, index) => {
    const example = row.textPair === undefined
      ? { id: row.id, text: row.text, label: ids[index] }
      : { id: row.id, text: row.text, textPair: row.textPair, label: ids[index] };
    (splits[row.split] ??= []).push(example as E);
  });
  return { task, labels, splits };
}
