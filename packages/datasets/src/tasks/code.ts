import * as fs from 'fs';
import * as path from 'path';

import { CheckpointError } from '@modularevo/core-tensor';

import { iterateRecords } from '../readers';
import { toClassificationData, type LabelledRow } from './classification-data';
import { optionalText, requireExamples, requireText } from './fields';
import type { ClassificationReadOptions } from './mathqa';
import { namedSplits, splitOf, validateFractions, type SplitFractions } from './splits';
import type { ClassificationExample, SplitFiles, TaskData, TaskDefinition } from './types';

/** Rosetta Code programming-language classification (ModularEvo's code task for GPT-Neo). */
export const CODE: TaskDefinition = {
  name: 'code',
  description: 'Rosetta Code: classify a solution by its programming language',
  kind: 'classification',
  fields: { text: 'code', label: 'language_name' },
  splits: ['train', 'validation', 'test'],
  primaryMetric: 'accuracy',
  metrics: ['accuracy', 'macro-f1'],
};

/** The 60 / 10 / 30 split that ModularEvo's `finetune_code.py` uses. */
export const CODE_SPLIT_FRACTIONS: SplitFractions = { train: 0.6, validation: 0.1, test: 0.3 };

/** Options of {@link readRosettaCode}. */
export interface RosettaCodeOptions extends ClassificationReadOptions {
  /** Split fractions for sources without splits (one file or the folder tree). Default 60 / 10 / 30. */
  fractions?: SplitFractions;
}

/** Returns the task of a solution file name: `<task>[-<n>].<ext>` without the number and extension. */
export function rosettaTaskOf(fileName: string): string {
  const stem = fileName.includes('.') ? fileName.slice(0, fileName.lastIndexOf('.')) : fileName;
  return stem.replace(/-\d+$/, '');
}

/** Reads the `<Language>/<task>[-<n>].<ext>` tree; the label is the folder name. */
function readTree(root: string, fractions: SplitFractions): LabelledRow[] {
  const rows: LabelledRow[] = [];
  const languages = fs.readdirSync(root, { withFileTypes: true }).filter((entry) => entry.isDirectory()).map((entry) => entry.name).sort();
  if (languages.length === 0) throw new CheckpointError(root, 'has no language folders', 'Expected <Language>/<task>.<ext> files');

  for (const language of languages) {
    const dir = path.join(root, language);
    const files = fs.readdirSync(dir, { withFileTypes: true }).filter((entry) => entry.isFile()).map((entry) => entry.name).sort();
    for (const name of files) {
      const file = path.join(dir, name);
      rows.push({
        split: splitOf(rosettaTaskOf(name), fractions),
        id: `${language}/${name}`,
        text: fs.readFileSync(file, 'utf8'),
        label: language,
        where: file,
      });
    }
  }
  return rows;
}

/**
 * Reads Rosetta Code solutions labelled by language, from any of:
 *
 * - split files (`{train, validation, test}`) of rows with `language_name` and `code`, in Parquet
 *   or JSON Lines, as on the Hugging Face Hub;
 * - one such file, split here;
 * - the `<Language>/<task>[-<n>].<ext>` folder tree, split here.
 *
 * Where the data has no split, each solution goes to a split by a hash of its task name. The task
 * name is `task_name` for rows and the file name without number and extension for the tree. So
 * all solutions of one task land in the same split, and no task's code leaks from train to test.
 * Rows without `task_name` are split by a hash of their code.
 *
 * Throws `CheckpointError` for rows without `code` or `language_name` and for empty splits,
 * `InvalidInputError` for fractions that do not add up to 1.
 */
export async function readRosettaCode(source: string | SplitFiles, options: RosettaCodeOptions = {}): Promise<TaskData<ClassificationExample>> {
  const fractions = options.fractions ?? CODE_SPLIT_FRACTIONS;
  validateFractions(fractions);
  let rows: LabelledRow[] = [];

  if (typeof source === 'string' && fs.existsSync(source) && fs.statSync(source).isDirectory()) {
    rows = readTree(source, fractions);
  } else if (typeof source === 'string') {
    for await (const located of iterateRecords(source)) {
      const code = requireText(located, ['code']);
      rows.push({
        split: splitOf(optionalText(located, ['task_name']) ?? code, fractions),
        id: `${path.basename(source)}:${located.line}`,
        text: code,
        label: requireText(located, ['language_name']),
        where: `${source} row ${located.line}`,
      });
    }
  } else {
    for (const [split, file] of namedSplits(source, CODE.name)) {
      for await (const located of iterateRecords(file)) {
        rows.push({
          split,
          id: `${split}-${located.line - 1}`,
          text: requireText(located, ['code']),
          label: requireText(located, ['language_name']),
          where: `${file} row ${located.line}`,
        });
      }
    }
  }

  const origin = typeof source === 'string' ? source : Object.values(source).join(', ');
  for (const split of CODE.splits) {
    const wanted = typeof source === 'string' ? fractions[split] > 0 : source[split] !== undefined;
    if (wanted) requireExamples(rows.filter((row) => row.split === split).length, origin, CODE.name, split);
  }
  return toClassificationData(CODE, rows, options.labels);
}
