import { InvalidInputError } from '@modularevo/core-tensor';

import { CLONE, readBigCloneBench, type BigCloneBenchFiles } from './clone';
import { CODE, readRosettaCode } from './code';
import { CONCODE, readCodeToText, readConcode, SUMMARIZE } from './generation';
import { LANGID, readLangId } from './langid';
import { MATHQA, readMathQA } from './mathqa';
import { readScotus, SCOTUS } from './scotus';
import { readCoSQA, SEARCH } from './search';
import { findSplitFiles, type SplitFractions } from './splits';
import type { SplitFiles, TaskData, TaskDefinition, TaskName } from './types';

/** Every task definition by name. */
export const TASKS: Readonly<Record<TaskName, TaskDefinition>> = {
  mathqa: MATHQA,
  scotus: SCOTUS,
  code: CODE,
  langid: LANGID,
  clone: CLONE,
  search: SEARCH,
  summarize: SUMMARIZE,
  concode: CONCODE,
};

/** Returns the definition of a task, or throws `InvalidInputError` listing the task names. */
export function getTask(name: string): TaskDefinition {
  const task = TASKS[name as TaskName];
  if (!task) throw new InvalidInputError(`Unknown task "${name}": use one of ${Object.keys(TASKS).join(', ')}`);
  return task;
}

/** Location of a task's data: a file or folder, or the file of each split. */
export type TaskSource = string | SplitFiles | BigCloneBenchFiles;

/** Options of {@link readTask}. */
export interface ReadTaskOptions {
  /** Fixed label set for classification tasks. */
  labels?: readonly string[];
  /** Split fractions for sources without splits (`code`, `langid`). */
  fractions?: SplitFractions;
}

// file names of the published releases, for tasks given as a folder
const MATHQA_FILES = { train: ['train.json', 'train-00000-of-00001.parquet'], validation: ['dev.json', 'validation.json', 'val-00000-of-00001.parquet'], test: ['test.json', 'test-00000-of-00001.parquet'] };
const COSQA_FILES = { train: ['cosqa-train.json', 'cosqa_train.json'], validation: ['cosqa-dev.json', 'cosqa_dev.json'], test: ['cosqa-test.json', 'cosqa_test.json'] };
const CONCODE_FILES = { train: ['train.json'], validation: ['dev.json'], test: ['test.json'] };

function asSplitFiles(source: TaskSource, dirFiles: () => SplitFiles): SplitFiles {
  return typeof source === 'string' ? dirFiles() : source;
}

/**
 * Reads a task's data by task name; see the task readers (`readMathQA`, `readScotus`,
 * `readRosettaCode`, `readLangId`, `readBigCloneBench`, `readCoSQA`, `readCodeToText`,
 * `readConcode`) for the formats each accepts. A folder is searched for the file names of the
 * published release.
 */
export async function readTask(name: string, source: TaskSource, options: ReadTaskOptions = {}): Promise<TaskData> {
  const task = getTask(name);
  switch (task.name) {
    case 'mathqa':
      return readMathQA(asSplitFiles(source, () => findSplitFiles(source as string, MATHQA_FILES, name)), options);
    case 'scotus':
      return readScotus(source, options);
    case 'code':
      return readRosettaCode(source, options);
    case 'langid':
      return readLangId(source, options);
    case 'clone':
      if (typeof source !== 'string' && !('data' in source)) {
        throw new InvalidInputError('Task clone needs the data.jsonl path as "data" next to the pair files, or the CodeXGLUE dataset folder');
      }
      return readBigCloneBench(source as string | BigCloneBenchFiles, options);
    case 'search':
      return readCoSQA(asSplitFiles(source, () => findSplitFiles(source as string, COSQA_FILES, name)), options);
    case 'summarize':
      return readCodeToText(source);
    case 'concode':
      return readConcode(asSplitFiles(source, () => findSplitFiles(source as string, CONCODE_FILES, name)));
  }
}
