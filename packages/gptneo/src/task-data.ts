/**
 * Classification data for the GPT-Neo tasks: the published formats (through `readTask` of
 * `@modularevo/datasets`) and the generic JSON-lines format `{"text": ..., "label": ...}` with
 * string labels and one file per split, which the built-in tasks use. Both end in one label set
 * and one check that every example's label is in it.
 */
import * as fs from 'fs';
import * as path from 'path';

import { CheckpointError, createRng, InvalidInputError, MismatchError } from '@modularevo/core-tensor';
import {
  iterateRecords,
  readTask,
  SPLIT_NAMES,
  TASKS,
  type ClassificationExample,
  type LocatedRecord,
  type SplitFiles,
  type SplitName,
  type TaskName,
  type TaskSource,
} from '@modularevo/datasets';
import type { TaskDataset, TaskLoadOptions } from '@modularevo/masking';

/** An example whose label is still a name, with where it was read, for messages. */
interface NamedRow {
  split: SplitName;
  id: string;
  text: string;
  label: string;
  where: string;
  /** The file the row was read from, for rows of the generic format. */
  file?: string;
}

// file names of a folder in the generic format, first match per split
const GENERIC_FILES: Record<SplitName, string[]> = {
  train: ['train.jsonl', 'train.json', 'train.jsonl.zst', 'train.jsonl.gz'],
  validation: ['validation.jsonl', 'validation.json', 'valid.jsonl', 'dev.jsonl', 'validation.jsonl.zst', 'validation.jsonl.gz'],
  test: ['test.jsonl', 'test.json', 'test.jsonl.zst', 'test.jsonl.gz'],
};

/**
 * Reads a classification task: the generic `{text, label}` format when the source is in it,
 * else the published format of `reader`. The label set is `options.labels` when given, else the
 * task's fixed classes (SCOTUS issue areas), else the sorted labels of the train split (of all
 * splits when there is no train split). At most `options.maxExamples[split]` examples are kept
 * per split, drawn with `options.seed`.
 *
 * @throws MismatchError naming the example when a label is not in the label set
 * @throws CheckpointError for missing files or records without text or label
 * @throws InvalidInputError when the source is in neither format, or the label set has fewer than two classes
 */
export async function readClassificationTask(
  task: string,
  reader: TaskName | undefined,
  source: TaskSource,
  options: TaskLoadOptions = {},
): Promise<TaskDataset<ClassificationExample>> {
  const generic = await genericSplitFiles(source);
  let rows: NamedRow[];
  let taskLabels: readonly string[] | undefined;
  if (generic) {
    rows = await readGenericRows(task, generic);
  } else if (reader) {
    const data = await readTask(reader, source, { labels: options.labels });
    rows = (Object.entries(data.splits) as [SplitName, ClassificationExample[]][]).flatMap(([split, examples]) =>
      examples.map((example) => ({ split, id: example.id, text: example.text, label: data.labels[example.label], where: `example ${example.id}` })),
    );
    taskLabels = TASKS[reader].labels;
  } else {
    throw new InvalidInputError(
      `Task ${task} reads JSON lines with a "text" and a string "label" per record, one file per split (train, validation, test); ${describeSource(source)} is not in that format`,
    );
  }

  const labels = labelSet(task, rows, options.labels ?? taskLabels);
  return { task, labels, splits: sample(numberRows(task, rows, labels, options.labels !== undefined || taskLabels !== undefined), options) };
}

/**
 * Returns the split files when `source` is in the generic format: a folder with `train.jsonl`
 * (and validation and test files), or split files, whose first record has a string `text` and
 * a string `label`. Returns undefined for anything else.
 */
async function genericSplitFiles(source: TaskSource): Promise<SplitFiles | undefined> {
  let files: SplitFiles;
  if (typeof source === 'string') {
    if (!fs.existsSync(source) || !fs.statSync(source).isDirectory()) return undefined;
    files = {};
    for (const split of SPLIT_NAMES) {
      const name = GENERIC_FILES[split].find((candidate) => fs.existsSync(path.join(source, candidate)));
      if (name) files[split] = path.join(source, name);
    }
  } else if (SPLIT_NAMES.some((split) => typeof (source as SplitFiles)[split] === 'string')) {
    files = source as SplitFiles;
  } else {
    return undefined;
  }

  const first = SPLIT_NAMES.map((split) => files[split]).find((file) => file !== undefined);
  if (first === undefined || !fs.existsSync(first)) return undefined;
  for await (const { record } of iterateRecords(first)) {
    return typeof record.text === 'string' && typeof record.label === 'string' ? files : undefined;
  }
  return undefined;
}

async function readGenericRows(task: string, files: SplitFiles): Promise<NamedRow[]> {
  const rows: NamedRow[] = [];
  for (const split of SPLIT_NAMES) {
    const file = files[split];
    if (file === undefined) continue;
    const before = rows.length;
    for await (const located of iterateRecords(file)) {
      rows.push({ split, id: `${split}-${located.line}`, text: stringField(located, 'text'), label: stringField(located, 'label'), where: `${file} line ${located.line}`, file });
    }
    if (rows.length === before) throw new CheckpointError(file, `has no examples for the ${split} split of task ${task}`, 'Check the file and the split it was given as');
  }
  return rows;
}

function stringField(located: LocatedRecord, name: string): string {
  const value = located.record[name];
  if (typeof value === 'string') return value;
  throw new CheckpointError(
    located.file,
    `line ${located.line} has no "${name}" string (found ${value === undefined ? 'nothing' : JSON.stringify(value)})`,
    'Each record needs "text" and "label" strings',
  );
}

/** Returns the label set: the fixed one, else the sorted train labels (all labels without a train split). */
function labelSet(task: string, rows: NamedRow[], fixed: readonly string[] | undefined): string[] {
  const train = rows.filter((row) => row.split === 'train');
  const labelled = train.length > 0 ? train : rows;
  const labels = fixed ? [...fixed] : [...new Set(labelled.map((row) => row.label))].sort();
  if (labels.length < 2) {
    const files = [...new Set(labelled.flatMap((row) => (row.file === undefined ? [] : [row.file])))];
    const source = files.length > 0 ? ` in ${files.join(', ')}` : '';
    throw new InvalidInputError(
      `Task ${task} has ${labels.length} class${labels.length === 1 ? '' : 'es'} (${labels.join(', ') || 'none'})${source}; a classifier needs at least two, so add examples of another label`,
    );
  }
  return labels;
}

/** Numbers the labels of `rows` under `labels` and groups them by split, in reading order. */
function numberRows(task: string, rows: NamedRow[], labels: string[], fixed: boolean): Partial<Record<SplitName, ClassificationExample[]>> {
  const ids = new Map(labels.map((label, id) => [label, id]));
  const splits: Partial<Record<SplitName, ClassificationExample[]>> = {};
  for (const row of rows) {
    const label = ids.get(row.label);
    if (label === undefined) {
      const origin = fixed ? 'given' : 'of the train split';
      throw new MismatchError(
        `${row.where}: label "${row.label}" in the ${row.split} split of task ${task} is not in the label set ${origin} (${labels.join(', ')}); ` +
          'remove those examples or add the class to the training data',
      );
    }
    (splits[row.split] ??= []).push({ id: row.id, text: row.text, label });
  }
  return splits;
}

/** Keeps at most `maxExamples[split]` examples per split, a seeded sample in reading order. */
function sample(splits: Partial<Record<SplitName, ClassificationExample[]>>, options: TaskLoadOptions): Partial<Record<SplitName, ClassificationExample[]>> {
  const rng = createRng(options.seed ?? 0).fork('max-examples');
  for (const split of SPLIT_NAMES) {
    const examples = splits[split];
    const limit = options.maxExamples?.[split];
    if (!examples || limit === undefined || limit >= examples.length) continue;
    if (!Number.isSafeInteger(limit) || limit < 1) throw new InvalidInputError(`Invalid maxExamples.${split} ${limit}: use a whole number of at least 1`);
    const kept = new Set(rng.fork(split).permutation(examples.length).slice(0, limit));
    splits[split] = examples.filter((_, index) => kept.has(index));
  }
  return splits;
}

function describeSource(source: TaskSource): string {
  if (typeof source === 'string') return source;
  return Object.entries(source)
    .map(([split, file]) => `${split} ${file}`)
    .join(', ');
}
