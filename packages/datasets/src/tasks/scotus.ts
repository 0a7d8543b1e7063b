import { CheckpointError } from '@modularevo/core-tensor';

import { iterateRecords, type LocatedRecord } from '../readers';
import { toClassificationData, type LabelledRow } from './classification-data';
import { optionalText, requireExamples, requireText } from './fields';
import type { ClassificationReadOptions } from './mathqa';
import { namedSplits } from './splits';
import { SPLIT_NAMES, type ClassificationExample, type SplitFiles, type SplitName, type TaskData, type TaskDefinition } from './types';

/**
 * The 13 issue-area classes of LexGLUE SCOTUS, named as the Hugging Face `lex_glue` dataset
 * names them (Supreme Court Database issue areas 1-13); label id = issue area - 1.
 */
export const SCOTUS_LABELS = Array.from({ length: 13 }, (_, i) => String(i + 1));

/** LexGLUE SCOTUS issue-area classification (ModularEvo's law task for GPT-Neo). */
export const SCOTUS: TaskDefinition = {
  name: 'scotus',
  description: 'LexGLUE SCOTUS: classify a US Supreme Court opinion into its issue area',
  kind: 'classification',
  fields: { text: 'text', label: 'issueArea' },
  labels: SCOTUS_LABELS,
  splits: ['train', 'validation', 'test'],
  primaryMetric: 'accuracy',
  metrics: ['accuracy', 'macro-f1'],
};

// data_type values of the raw LexGLUE file
const RAW_SPLITS: Record<string, SplitName> = { train: 'train', dev: 'validation', test: 'test' };

/** Returns the label name of a record: `issueArea` as it is (raw format) or `label` + 1 (Hugging Face format). */
function labelOf(located: LocatedRecord): string {
  const issueArea = optionalText(located, ['issueArea']);
  if (issueArea !== undefined) return issueArea;

  const label = located.record.label;
  if (typeof label === 'number' && Number.isInteger(label)) return String(label + 1);
  throw new CheckpointError(located.file, `line ${located.line} has no "issueArea" or integer "label" field`, 'Use the LexGLUE scotus.jsonl or the Hugging Face lex_glue scotus files');
}

function toRow(located: LocatedRecord, split: SplitName): LabelledRow {
  return {
    split,
    id: optionalText(located, ['case_id']) ?? `${split}-${located.line - 1}`,
    text: requireText(located, ['text']),
    label: labelOf(located),
    where: `${located.file} line ${located.line}`,
  };
}

/**
 * Reads LexGLUE SCOTUS. A single path is the raw LexGLUE `scotus.jsonl`, whose `data_type`
 * (train / dev / test) gives the split; split files (`{train, validation, test}`) may be raw
 * records or the Hugging Face format (`text` + `label`, label = issue area - 1), in JSON Lines
 * or Parquet.
 *
 * Throws `CheckpointError` for a record without text or label, an unknown `data_type`, or a split
 * with no records. Throws `MismatchError` for an issue area outside 1-13 (or outside
 * `options.labels`).
 */
export async function readScotus(source: string | SplitFiles, options: ClassificationReadOptions = {}): Promise<TaskData<ClassificationExample>> {
  const rows: LabelledRow[] = [];

  if (typeof source === 'string') {
    for await (const located of iterateRecords(source)) {
      const dataType = requireText(located, ['data_type']);
      const split = RAW_SPLITS[dataType];
      if (!split) throw new CheckpointError(source, `line ${located.line} has data_type "${dataType}"`, 'Expected train, dev or test');
      rows.push(toRow(located, split));
    }
    for (const split of SPLIT_NAMES) requireExamples(rows.filter((row) => row.split === split).length, source, SCOTUS.name, split, 'records');
  } else {
    for (const [split, file] of namedSplits(source, SCOTUS.name)) {
      const before = rows.length;
      for await (const located of iterateRecords(file)) rows.push(toRow(located, split));
      requireExamples(rows.length - before, file, SCOTUS.name, split);
    }
  }
  return toClassificationData(SCOTUS, rows, options.labels);
}
