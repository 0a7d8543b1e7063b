import * as fs from 'fs';
import * as path from 'path';

import { CheckpointError, InvalidInputError } from '@modularevo/core-tensor';

import { iterateRecords } from '../readers';
import { requireText } from '../tasks/fields';
import type { ClassificationExample, SplitName } from '../tasks';
import { BUILTIN_DOMAIN_INFO, BUILTIN_DOMAINS, BUILTIN_TASK_INFO, BUILTIN_TASKS, type BuiltinDomain, type BuiltinDomainInfo, type BuiltinTask, type BuiltinTaskInfo } from './catalog';
import { builtinDataDir } from './paths';

/** Corpus splits of the built-in data (The Pile has train, validation and test; these have two). */
export type BuiltinCorpusSplit = 'train' | 'test';

interface CorpusSplitEntry {
  file: string;
  documents: number;
  textBytes: number;
  tokens: number;
  sha256: string;
}

interface TaskSplitEntry {
  file: string;
  examples: number;
  labelCounts: Record<string, number>;
  meanTokens: number;
  sha256: string;
}

/** `datasets/builtin/manifest.json` as the generator writes it. */
export interface BuiltinManifest {
  tokenizer: { dir: string; vocabSize: number; merges: number; source: string };
  corpora: Record<BuiltinDomain, { pileSetName: string; standsFor: string; splits: Record<BuiltinCorpusSplit, CorpusSplitEntry> }>;
  tasks: Record<BuiltinTask, { domain: BuiltinDomain; labels: string[]; splits: Record<SplitName, TaskSplitEntry> }>;
  sources: { package: string; version: string; license: string; use: string }[];
}

/** A built-in corpus: its files and sizes. */
export interface BuiltinCorpus extends BuiltinDomainInfo {
  /** Pile-style JSON lines per split (`{"text": ..., "meta": {"pile_set_name": ...}}`). */
  files: Record<BuiltinCorpusSplit, string>;
  documents: Record<BuiltinCorpusSplit, number>;
  /** Tokens per split with the built-in tokenizer. */
  tokens: Record<BuiltinCorpusSplit, number>;
}

/** A built-in task: its files, labels and sizes. */
export interface BuiltinTaskFiles extends BuiltinTaskInfo {
  /** JSON lines with `text` and `label` per split. */
  files: Record<SplitName, string>;
  /** Class names, sorted; a label id is an index into this list. */
  labels: string[];
  examples: Record<SplitName, number>;
  labelCounts: Record<SplitName, Record<string, number>>;
  /** Mean tokens per example with the built-in tokenizer. */
  meanTokens: Record<SplitName, number>;
}

/** A built-in task read into memory. */
export interface BuiltinTaskData {
  task: BuiltinTaskFiles;
  labels: string[];
  splits: Record<SplitName, ClassificationExample[]>;
}

const SPLITS: readonly SplitName[] = ['train', 'validation', 'test'];

/** Reads `manifest.json` of the built-in data; throws `CheckpointError` when it is missing or malformed. */
export function readBuiltinManifest(dir = builtinDataDir()): BuiltinManifest {
  const file = path.join(dir, 'manifest.json');
  let manifest: BuiltinManifest;
  try {
    manifest = JSON.parse(fs.readFileSync(file, 'utf8')) as BuiltinManifest;
  } catch (error) {
    throw new CheckpointError(file, `could not be read (${(error as Error).message})`, 'Rebuild it with nx run datasets:build-builtin-data');
  }
  if (!manifest.corpora || !manifest.tasks || !manifest.tokenizer) {
    throw new CheckpointError(file, 'has no "corpora", "tasks" or "tokenizer"', 'Rebuild it with nx run datasets:build-builtin-data');
  }
  return manifest;
}

/**
 * Returns the files and sizes of a built-in corpus (`math`, `law`, `multilingual`, `code`).
 * Throws `InvalidInputError` for another name, and `CheckpointError` when the data is missing.
 */
export function builtinCorpus(domain: string): BuiltinCorpus {
  if (!(BUILTIN_DOMAINS as readonly string[]).includes(domain)) {
    throw new InvalidInputError(`Unknown built-in domain "${domain}": use one of ${BUILTIN_DOMAINS.join(', ')}`);
  }
  const dir = builtinDataDir();
  const entry = readBuiltinManifest(dir).corpora[domain as BuiltinDomain];
  if (!entry) throw new CheckpointError(path.join(dir, 'manifest.json'), `has no corpus "${domain}"`, 'Rebuild it with nx run datasets:build-builtin-data');

  const pick = <T>(get: (split: CorpusSplitEntry) => T) => ({ train: get(entry.splits.train), test: get(entry.splits.test) });
  return {
    ...BUILTIN_DOMAIN_INFO[domain as BuiltinDomain],
    files: pick((s) => path.join(dir, s.file)),
    documents: pick((s) => s.documents),
    tokens: pick((s) => s.tokens),
  };
}

/**
 * Returns the files, labels and sizes of a built-in task (`math-topic`, `license-family`,
 * `langid`, `code-language`). Throws `InvalidInputError` for another name, and
 * `CheckpointError` when the data is missing.
 */
export function builtinTask(task: string): BuiltinTaskFiles {
  if (!(BUILTIN_TASKS as readonly string[]).includes(task)) {
    throw new InvalidInputError(`Unknown built-in task "${task}": use one of ${BUILTIN_TASKS.join(', ')}`);
  }
  const dir = builtinDataDir();
  const entry = readBuiltinManifest(dir).tasks[task as BuiltinTask];
  if (!entry) throw new CheckpointError(path.join(dir, 'manifest.json'), `has no task "${task}"`, 'Rebuild it with nx run datasets:build-builtin-data');

  const pick = <T>(get: (split: TaskSplitEntry) => T) => Object.fromEntries(SPLITS.map((split) => [split, get(entry.splits[split])])) as Record<SplitName, T>;
  return {
    ...BUILTIN_TASK_INFO[task as BuiltinTask],
    files: pick((s) => path.join(dir, s.file)),
    labels: [...entry.labels],
    examples: pick((s) => s.examples),
    labelCounts: pick((s) => ({ ...s.labelCounts })),
    meanTokens: pick((s) => s.meanTokens),
  };
}

/**
 * Reads every split of a built-in task. Label ids index {@link BuiltinTaskFiles.labels}.
 * Throws `CheckpointError` naming the file and line of a record without `text` or `label`,
 * or with a label outside the task's label set.
 */
export async function readBuiltinTask(task: string): Promise<BuiltinTaskData> {
  const files = builtinTask(task);
  const ids = new Map(files.labels.map((label, id) => [label, id]));

  const splits = {} as Record<SplitName, ClassificationExample[]>;
  for (const split of SPLITS) {
    splits[split] = [];
    for await (const located of iterateRecords(files.files[split])) {
      const label = requireText(located, ['label']);
      const id = ids.get(label);
      if (id === undefined) throw new CheckpointError(located.file, `line ${located.line} has label "${label}", which is not one of ${files.labels.join(', ')}`, 'Rebuild the built-in data');
      splits[split].push({ id: `${split}-${located.line}`, text: requireText(located, ['text']), label: id });
    }
  }
  return { task: files, labels: files.labels, splits };
}
