import * as fs from 'fs';
import * as path from 'path';

import { CheckpointError } from '@modularevo/core-tensor';

import { compressionOf, iterateRecords, readTextLines } from '../readers';
import { toClassificationData, type LabelledRow } from './classification-data';
import { requireExamples, requireText } from './fields';
import type { ClassificationReadOptions } from './mathqa';
import { namedSplits } from './splits';
import type { PairExample, SplitFiles, SplitName, TaskData, TaskDefinition } from './types';

/** BigCloneBench clone detection as CodeXGLUE packages it. */
export const CLONE: TaskDefinition = {
  name: 'clone',
  description: 'BigCloneBench (CodeXGLUE): decide whether two Java functions are clones',
  kind: 'pair-classification',
  fields: { text: 'func', textPair: 'func', label: 'label' },
  labels: ['0', '1'],
  splits: ['train', 'validation', 'test'],
  primaryMetric: 'f1',
  metrics: ['f1', 'precision', 'recall', 'accuracy'],
};

/** The CodeXGLUE files of BigCloneBench: the function table and the pair file of each split. */
export interface BigCloneBenchFiles extends SplitFiles {
  /** `data.jsonl`: one `{"func": ..., "idx": ...}` per line. */
  data: string;
}

/** Finds `data.jsonl` and `train.txt` / `valid.txt` / `test.txt` in a CodeXGLUE dataset folder. */
function filesInFolder(dir: string): BigCloneBenchFiles {
  const files: BigCloneBenchFiles = { data: path.join(dir, 'data.jsonl') };
  const pairFiles: [SplitName, string][] = [['train', 'train.txt'], ['validation', 'valid.txt'], ['test', 'test.txt']];
  for (const [split, name] of pairFiles) if (fs.existsSync(path.join(dir, name))) files[split] = path.join(dir, name);
  return files;
}

/** Reads `data.jsonl` into idx -> function source. */
async function readFunctions(file: string): Promise<Map<string, string>> {
  const functions = new Map<string, string>();
  for await (const located of iterateRecords(file)) functions.set(requireText(located, ['idx']), requireText(located, ['func']));
  return functions;
}

/**
 * Reads BigCloneBench in the CodeXGLUE layout: `data.jsonl` with `func` and `idx`, and pair
 * files `train.txt`, `valid.txt`, `test.txt` of `idx1<TAB>idx2<TAB>label` lines (label 1 =
 * clone). Give the folder or the files. Functions are kept as they are; CodeXGLUE's models
 * collapse whitespace themselves.
 *
 * Throws `CheckpointError` naming the file and line for a pair line that is not three
 * tab-separated fields, a label other than 0 or 1, or an idx missing from `data.jsonl`. CodeT5's
 * reader skips such pairs silently, but here they are an error so that no data goes missing
 * unnoticed.
 */
export async function readBigCloneBench(source: string | BigCloneBenchFiles, options: ClassificationReadOptions = {}): Promise<TaskData<PairExample>> {
  const files = typeof source === 'string' ? filesInFolder(source) : source;
  const functions = await readFunctions(files.data);

  const rows: LabelledRow[] = [];
  for (const [split, file] of namedSplits(files, CLONE.name)) {
    let lineNumber = 0;
    const before = rows.length;
    for await (const line of readTextLines(file, compressionOf(file))) {
      lineNumber += 1;
      if (line.trim().length === 0) continue;

      const fields = line.trim().split('\t');
      if (fields.length !== 3) throw new CheckpointError(file, `line ${lineNumber} has ${fields.length} tab-separated fields`, 'Expected idx1<TAB>idx2<TAB>label');
      const [first, second, label] = fields;
      if (label !== '0' && label !== '1') throw new CheckpointError(file, `line ${lineNumber} has label "${label}"`, 'Expected 0 or 1');
      for (const idx of [first, second]) {
        if (!functions.has(idx)) throw new CheckpointError(file, `line ${lineNumber} names idx ${idx}, which is not in ${files.data}`, 'Use the data.jsonl that belongs to these pair files');
      }

      rows.push({ split, id: `${first}-${second}`, text: functions.get(first)!, textPair: functions.get(second)!, label, where: `${file} line ${lineNumber}` });
    }
    requireExamples(rows.length - before, file, CLONE.name, split, 'pairs');
  }
  return toClassificationData(CLONE, rows, options.labels);
}
