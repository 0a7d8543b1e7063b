import { CheckpointError } from '@modularevo/core-tensor';

import { iterateRecords } from '../readers';
import { toClassificationData, type LabelledRow } from './classification-data';
import { optionalText, requireExamples, requireText } from './fields';
import type { ClassificationReadOptions } from './mathqa';
import { namedSplits } from './splits';
import type { PairExample, SplitFiles, TaskData, TaskDefinition } from './types';

/** CoSQA code search (CodeXGLUE NL-code-search-WebQuery). */
export const SEARCH: TaskDefinition = {
  name: 'search',
  description: 'CoSQA: decide whether a code snippet matches a web query',
  kind: 'retrieval',
  fields: { text: 'doc', textPair: 'code', label: 'label' },
  labels: ['0', '1'],
  splits: ['train', 'validation', 'test'],
  primaryMetric: 'accuracy',
  metrics: ['accuracy', 'f1', 'precision', 'recall'],
};

/**
 * Reads CoSQA (`cosqa-train.json`, `cosqa-dev.json`: JSON arrays of `idx`, `doc` (the query),
 * `code` and `label`, which is 1 when the code is a match for the query). Examples pair the query (`text`) with
 * the code (`textPair`).
 *
 * Throws `CheckpointError` naming the file and row for a record without `code`, `doc` or a 0/1
 * `label`, and for an empty file.
 */
export async function readCoSQA(files: SplitFiles, options: ClassificationReadOptions = {}): Promise<TaskData<PairExample>> {
  const rows: LabelledRow[] = [];
  for (const [split, file] of namedSplits(files, SEARCH.name)) {
    const before = rows.length;
    for await (const located of iterateRecords(file)) {
      const label = requireText(located, ['label']);
      if (label !== '0' && label !== '1') throw new CheckpointError(file, `row ${located.line} has label ${label}`, 'Expected 0 or 1');
      rows.push({
        split,
        id: optionalText(located, ['idx']) ?? `${split}-${located.line - 1}`,
        text: requireText(located, ['doc']),
        textPair: requireText(located, ['code']),
        label,
        where: `${file} row ${located.line}`,
      });
    }
    requireExamples(rows.length - before, file, SEARCH.name, split);
  }
  return toClassificationData(SEARCH, rows, options.labels);
}
