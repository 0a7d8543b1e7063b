import * as fs from 'fs';
import * as path from 'path';

import { CheckpointError } from '@modularevo/core-tensor';

import { iterateRecords } from '../readers';

/** A CodeSearchNet function record, with the field names of the corpus. */
export interface CodeSearchNetRecord {
  repo: string;
  path: string;
  func_name: string;
  original_string: string;
  language: string;
  code: string;
  code_tokens: string[];
  docstring: string;
  docstring_tokens: string[];
  sha: string;
  url: string;
  partition: string;
}

/** CodeSearchNet split names (the corpus calls validation `valid`). */
export type CodeSearchNetSplit = 'train' | 'valid' | 'test';

const REQUIRED_FIELDS: (keyof CodeSearchNetRecord)[] = ['code', 'code_tokens', 'docstring', 'docstring_tokens', 'language'];

/** Returns the languages of a CodeSearchNet root: folders with a `final/jsonl` tree. */
export function codeSearchNetLanguages(root: string): string[] {
  if (!fs.existsSync(root)) throw new CheckpointError(root, 'CodeSearchNet folder not found', 'Pass the folder that holds <lang>/final/jsonl');
  return fs
    .readdirSync(root, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && fs.existsSync(path.join(root, entry.name, 'final', 'jsonl')))
    .map((entry) => entry.name)
    .sort();
}

/**
 * Returns the files of one language and split in the CodeSearchNet layout,
 * `<lang>/final/jsonl/<split>/<lang>_<split>_<N>.jsonl[.gz]`, ordered by N.
 * Throws `CheckpointError` when the folder or its files are missing.
 */
export function codeSearchNetFiles(root: string, language: string, split: CodeSearchNetSplit): string[] {
  const dir = path.join(root, language, 'final', 'jsonl', split);
  if (!fs.existsSync(dir)) throw new CheckpointError(dir, `folder not found for ${language} ${split}`, `Expected the CodeSearchNet layout <lang>/final/jsonl/<split>/; languages here: ${codeSearchNetLanguages(root).join(', ') || 'none'}`);

  const pattern = new RegExp(`^${language.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}_${split}_(\\d+)\\.jsonl(\\.gz)?$`);
  const files = fs
    .readdirSync(dir)
    .map((name) => ({ name, match: pattern.exec(name) }))
    .filter((entry) => entry.match)
    .sort((a, b) => Number(a.match![1]) - Number(b.match![1]))
    .map((entry) => path.join(dir, entry.name));
  if (files.length === 0) throw new CheckpointError(dir, `has no ${language}_${split}_<N>.jsonl files`, 'Expected files such as python_train_0.jsonl or python_train_0.jsonl.gz');
  return files;
}

/**
 * Yields the function records of one language and split of CodeSearchNet, file by file.
 * Throws `CheckpointError` naming the file and line of a record that lacks `code`,
 * `code_tokens`, `docstring`, `docstring_tokens` or `language`.
 */
export async function* iterateCodeSearchNet(root: string, language: string, split: CodeSearchNetSplit): AsyncGenerator<CodeSearchNetRecord> {
  for (const file of codeSearchNetFiles(root, language, split)) {
    for await (const { record, line } of iterateRecords(file)) {
      const missing = REQUIRED_FIELDS.filter((field) => record[field] === undefined);
      if (missing.length > 0) throw new CheckpointError(file, `line ${line} has no ${missing.join(', ')}`, 'Expected CodeSearchNet records');
      yield record as unknown as CodeSearchNetRecord;
    }
  }
}

/** Reads every record of one language and split; see {@link iterateCodeSearchNet}. */
export async function readCodeSearchNet(root: string, language: string, split: CodeSearchNetSplit): Promise<CodeSearchNetRecord[]> {
  const records: CodeSearchNetRecord[] = [];
  for await (const record of iterateCodeSearchNet(root, language, split)) records.push(record);
  return records;
}
