import * as fs from 'fs';
import * as path from 'path';

import { CheckpointError } from '@modularevo/core-tensor';

import { isRecordFile, iterateRecords } from '../readers';

/** Corpus split names; a folder may call the validation split `validation`, `valid`, `val` or `dev`. */
export type CorpusSplit = 'train' | 'validation' | 'test';

const SPLIT_ALIASES: Record<CorpusSplit, string[]> = {
  train: ['train'],
  validation: ['validation', 'valid', 'val', 'dev'],
  test: ['test'],
};

/** Returns the record files under a folder, recursively, in name order. */
function recordFilesUnder(dir: string): string[] {
  const found: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) found.push(...recordFilesUnder(full));
    else if (entry.isFile() && isRecordFile(entry.name)) found.push(full);
  }
  return found;
}

/**
 * Returns the files of one split of a corpus. `source` is a record file (the whole corpus, any
 * split), or a folder holding `<split>.jsonl` (or `.jsonl.zst`, `.jsonl.gz`, `.json`, `.parquet`,
 * `.arrow`) or a `<split>/` folder of such files, as The Pile's components are laid out.
 *
 * Throws `CheckpointError` when the source is missing or the folder has no files for the split.
 */
export function corpusFiles(source: string, split: CorpusSplit): string[] {
  if (!fs.existsSync(source)) throw new CheckpointError(source, 'corpus not found', 'Pass a JSON Lines file or a folder with train and test files');
  if (fs.statSync(source).isFile()) return [source];

  const entries = fs.readdirSync(source, { withFileTypes: true });
  for (const alias of SPLIT_ALIASES[split]) {
    const files = entries.filter((entry) => entry.isFile() && isRecordFile(entry.name) && entry.name.split('.')[0] === alias).map((entry) => path.join(source, entry.name));
    if (files.length > 0) return files.sort();

    const folder = entries.find((entry) => entry.isDirectory() && entry.name === alias);
    if (folder) {
      const inside = recordFilesUnder(path.join(source, folder.name));
      if (inside.length === 0) throw new CheckpointError(path.join(source, folder.name), `has no data files for the ${split} split`, 'Add .jsonl, .jsonl.zst, .parquet or .arrow files');
      return inside;
    }
  }

  const names = SPLIT_ALIASES[split].map((alias) => `${alias}.jsonl or ${alias}/`).join(', ');
  throw new CheckpointError(source, `has no ${split} split (looked for ${names})`, 'Name the corpus file directly or add the split');
}

/** Options of {@link iterateCorpusTexts}. */
export interface CorpusOptions {
  /** Split to read from a corpus folder. Default `train`. */
  split?: CorpusSplit;
  /** Record field with the document text. Default `text`, as The Pile writes it. */
  field?: string;
  /** Stop after this many documents. */
  maxDocuments?: number;
}

/**
 * Yields the documents of a Pile-style corpus (records with a `text` field) one at a time, so
 * compressed corpora larger than memory stream through.
 *
 * Throws `CheckpointError` naming the file and line of a record without the text field, and for
 * a missing corpus or split (see {@link corpusFiles}).
 */
export async function* iterateCorpusTexts(source: string, options: CorpusOptions = {}): AsyncGenerator<string> {
  const field = options.field ?? 'text';
  const limit = options.maxDocuments ?? Infinity;
  let count = 0;

  for (const file of corpusFiles(source, options.split ?? 'train')) {
    for await (const { record, line } of iterateRecords(file)) {
      if (count >= limit) return;
      const text = record[field];
      if (typeof text !== 'string') {
        throw new CheckpointError(file, `line ${line} has no "${field}" string field (it has ${Object.keys(record).join(', ') || 'no fields'})`, 'Corpus records need the document text in that field');
      }
      count += 1;
      yield text;
    }
  }
}

/** Reads every document of a corpus split into memory; see {@link iterateCorpusTexts}. */
export async function readCorpusTexts(source: string, options: CorpusOptions = {}): Promise<string[]> {
  const texts: string[] = [];
  for await (const text of iterateCorpusTexts(source, options)) texts.push(text);
  return texts;
}
