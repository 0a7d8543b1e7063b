import { iterateRecords } from '../readers';
import { toClassificationData, type LabelledRow } from './classification-data';
import { requireExamples, requireText } from './fields';
import { namedSplits } from './splits';
import type { ClassificationExample, SplitFiles, TaskData, TaskDefinition } from './types';

/** MathQA problem-category classification (ModularEvo's math task for GPT-Neo). */
export const MATHQA: TaskDefinition = {
  name: 'mathqa',
  description: 'MathQA: classify a math word problem into its category (gain, general, geometry, other, physics, probability)',
  kind: 'classification',
  fields: { text: 'Problem', label: 'category' },
  splits: ['train', 'validation', 'test'],
  primaryMetric: 'accuracy',
  metrics: ['accuracy', 'macro-f1'],
};

/** Options of the classification task readers. */
export interface ClassificationReadOptions {
  /** A fixed label set (for example one saved with a fine-tuned head); labels outside it are an error. */
  labels?: readonly string[];
}

/**
 * Reads MathQA in its release format (a JSON array with `Problem` and `category`, as `dev.json`,
 * `test.json`, `challenge_test.json`) or as the Hub's Parquet copy (`question` and `topic`).
 * The caller names which file is which split, because the release has `dev` and `challenge_test`
 * and no file is called `validation`. Without a fixed label set, the labels are the sorted
 * categories of all files given.
 *
 * Throws `CheckpointError` for a record without problem text or category and for an empty
 * file, `MismatchError` for a category outside a fixed label set, and `InvalidInputError` when
 * fewer than two categories occur.
 */
export async function readMathQA(files: SplitFiles, options: ClassificationReadOptions = {}): Promise<TaskData<ClassificationExample>> {
  const rows: LabelledRow[] = [];
  for (const [split, file] of namedSplits(files, MATHQA.name)) {
    let count = 0;
    for await (const located of iterateRecords(file)) {
      count += 1;
      rows.push({
        split,
        id: `${split}-${located.line - 1}`,
        text: requireText(located, ['Problem', 'question']),
        label: requireText(located, ['category', 'topic']),
        where: `${file} row ${located.line}`,
      });
    }
    requireExamples(count, file, MATHQA.name, split);
  }
  return toClassificationData(MATHQA, rows, options.labels);
}
