import * as fs from 'fs';
import * as path from 'path';

import { CheckpointError } from '@modularevo/core-tensor';

import { pythonSplit, pythonStrip } from '../metrics/python-text';
import { iterateRecords } from '../readers';
import { requireExamples, requireText } from './fields';
import { namedSplits } from './splits';
import type { GenerationExample, SplitFiles, SplitName, TaskData, TaskDefinition } from './types';

/** CodeXGLUE code-to-text (code summarization). */
export const SUMMARIZE: TaskDefinition = {
  name: 'summarize',
  description: 'CodeXGLUE code-to-text: generate the docstring of a function',
  kind: 'generation',
  fields: { source: 'code_tokens', target: 'docstring_tokens' },
  splits: ['train', 'validation', 'test'],
  primaryMetric: 'smooth-bleu',
  metrics: ['smooth-bleu', 'exact-match'],
};

/** CodeXGLUE text-to-code on Concode (Java member generation). */
export const CONCODE: TaskDefinition = {
  name: 'concode',
  description: 'CodeXGLUE Concode: generate a Java member from its description and class context',
  kind: 'generation',
  fields: { source: 'nl', target: 'code' },
  splits: ['train', 'validation', 'test'],
  primaryMetric: 'bleu',
  metrics: ['bleu', 'exact-match'],
};

/** Returns the named token list of a record, or throws naming the file and line. */
function requireTokens(located: { record: Record<string, unknown>; file: string; line: number }, field: string): string[] {
  const value = located.record[field];
  if (!Array.isArray(value) || value.some((token) => typeof token !== 'string')) {
    throw new CheckpointError(located.file, `line ${located.line} has no "${field}" list of strings`, 'Expected CodeSearchNet / CodeXGLUE code-to-text records');
  }
  return value as string[];
}

/** Joins tokens with single spaces, as CodeXGLUE's `read_examples` does (`' '.join(x.strip().split())`). */
function joinTokens(tokens: string[], newline: ' ' | ''): string {
  return pythonSplit(pythonStrip(tokens.join(' ').replaceAll('\n', newline))).join(' ');
}

/** Finds `train.jsonl`, `valid.jsonl`, `test.jsonl` in a CodeXGLUE `<lang>` folder. */
function codeToTextFolder(dir: string): SplitFiles {
  const files: SplitFiles = {};
  const names: [SplitName, string][] = [['train', 'train.jsonl'], ['validation', 'valid.jsonl'], ['test', 'test.jsonl']];
  for (const [split, name] of names) if (fs.existsSync(path.join(dir, name))) files[split] = path.join(dir, name);
  return files;
}

/**
 * Reads CodeXGLUE code-to-text (`<lang>/train.jsonl`, `valid.jsonl`, `test.jsonl` of
 * CodeSearchNet records), from a language folder or split files. As CodeXGLUE's `run.py` does,
 * the source is `code_tokens` joined by spaces (newlines become spaces) and the target is
 * `docstring_tokens` joined by spaces (newlines removed), both with whitespace runs collapsed;
 * examples are numbered by line as CodeXGLUE numbers them.
 *
 * Throws `CheckpointError` for a record without the token lists, or an empty file.
 */
export async function readCodeToText(source: string | SplitFiles): Promise<TaskData<GenerationExample>> {
  const files = typeof source === 'string' ? codeToTextFolder(source) : source;
  const splits: Partial<Record<SplitName, GenerationExample[]>> = {};

  for (const [split, file] of namedSplits(files, SUMMARIZE.name)) {
    const examples: GenerationExample[] = [];
    for await (const located of iterateRecords(file)) {
      examples.push({
        id: String(located.record.idx ?? located.line - 1),
        source: joinTokens(requireTokens(located, 'code_tokens'), ' '),
        target: joinTokens(requireTokens(located, 'docstring_tokens'), ''),
      });
    }
    requireExamples(examples.length, file, SUMMARIZE.name, split);
    splits[split] = examples;
  }
  return { task: SUMMARIZE, labels: [], splits };
}

/**
 * Reads CodeXGLUE Concode (`train.json`, `dev.json`, `test.json`: JSON Lines of `nl` and
 * `code`), with source and target stripped as CodeT5's reader does. The released test split has
 * empty `code` because its references are withheld. Those examples have an empty target, so they
 * serve for generation but not for scoring.
 *
 * Throws `CheckpointError` for a record without `nl` or `code`, or an empty file.
 */
export async function readConcode(files: SplitFiles): Promise<TaskData<GenerationExample>> {
  const splits: Partial<Record<SplitName, GenerationExample[]>> = {};
  for (const [split, file] of namedSplits(files, CONCODE.name)) {
    const examples: GenerationExample[] = [];
    for await (const located of iterateRecords(file)) {
      examples.push({
        id: `${split}-${located.line - 1}`,
        source: pythonStrip(requireText(located, ['nl'])),
        target: pythonStrip(requireText(located, ['code'])),
      });
    }
    requireExamples(examples.length, file, CONCODE.name, split);
    splits[split] = examples;
  }
  return { task: CONCODE, labels: [], splits };
}
