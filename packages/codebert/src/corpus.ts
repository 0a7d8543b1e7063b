/**
 * The modularization corpus of CodeBERT: CodeSearchNet functions of one programming language
 * (the domain), filtered and joined as CodeBERT's pre-training data and ModularEvo's CodeBERT
 * modularizer prepare them.
 */
import * as fs from 'fs';
import * as path from 'path';

import { getLogger, InvalidInputError } from '@modularevo/core-tensor';
import { codeSearchNetLanguages, iterateCodeSearchNet, type CodeSearchNetRecord, type CodeSearchNetSplit, type CorpusSplit } from '@modularevo/datasets';
import type { CorpusReadOptions } from '@modularevo/masking';

const log = getLogger('codebert');

/** The CodeSearchNet languages, which are CodeBERT's domains. */
export const CODE_SEARCH_NET_LANGUAGES = ['go', 'java', 'javascript', 'php', 'python', 'ruby'] as const;

/** Filters of the CodeBERT paper, which the original modularizer applies before tokenizing. */
export interface CodeCorpusFilters {
  /** Drop functions whose name contains `test` (default true). */
  dropTests?: boolean;
  /** Drop functions with fewer code tokens (default 20, about three lines). */
  minCodeTokens?: number;
  /** Drop functions whose documentation has fewer tokens (default 3). */
  minDocstringTokens?: number;
  /** Stop after this many functions pass the filters. */
  maxDocuments?: number;
}

/**
 * Returns the training text of a function when it passes the filters: its code tokens, then
 * its documentation tokens, joined by single spaces. Returns undefined for a filtered function.
 */
export function codeCorpusText(record: CodeSearchNetRecord, filters: CodeCorpusFilters = {}): string | undefined {
  if ((filters.dropTests ?? true) && (record.func_name ?? '').includes('test')) return undefined;
  if (record.code_tokens.length < (filters.minCodeTokens ?? 20)) return undefined;
  if (record.docstring_tokens.length < (filters.minDocstringTokens ?? 3)) return undefined;
  return [...record.code_tokens, ...record.docstring_tokens].join(' ');
}

/**
 * Reads the texts of one language and split of a CodeSearchNet folder
 * (`<lang>/final/jsonl/<split>/<lang>_<split>_<N>.jsonl[.gz]`), filtered as {@link codeCorpusText}
 * does, and logs how many functions the filters dropped.
 *
 * @throws InvalidInputError when no function passes the filters.
 * @throws CheckpointError when the folder, its files or a record's fields are missing.
 */
export async function readCodeCorpus(root: string, language: string, split: CodeSearchNetSplit, filters: CodeCorpusFilters = {}): Promise<string[]> {
  const texts: string[] = [];
  let read = 0;
  for await (const record of iterateCodeSearchNet(root, language, split)) {
    if (texts.length >= (filters.maxDocuments ?? Infinity)) break;
    read += 1;
    const text = codeCorpusText(record, filters);
    if (text !== undefined) texts.push(text);
  }

  log.info(`CodeSearchNet ${language} ${split}: kept ${texts.length} of ${read} functions after the CodeBERT filters`);
  if (texts.length === 0) {
    throw new InvalidInputError(
      `No ${language} ${split} function in ${root} passes the CodeBERT filters (name without "test", ` +
        `at least ${filters.minCodeTokens ?? 20} code and ${filters.minDocstringTokens ?? 3} docstring tokens); use a larger corpus or relax the filters`,
    );
  }
  return texts;
}

// CodeSearchNet calls the validation split `valid`.
const CODE_SEARCH_NET_SPLITS: Record<CorpusSplit, CodeSearchNetSplit> = { train: 'train', validation: 'valid', test: 'test' };

/**
 * Reads one split of a modularization corpus in the CodeSearchNet layout: the functions of the
 * language `options.domain` under a CodeSearchNet root, or of the language folder `source`
 * itself (`<source>/final/jsonl/`), filtered as {@link readCodeCorpus} filters them. Returns
 * undefined for a source in another layout, which the modularizer then reads as JSON lines.
 * This is `architecture.readCorpus`.
 *
 * @throws InvalidInputError when the root has no folder for the domain, naming the languages it has,
 *   or when no function passes the filters
 * @throws CheckpointError when the split's files or a record's fields are missing
 */
export async function readCodeSearchNetCorpus(source: string, split: CorpusSplit, options: CorpusReadOptions): Promise<string[] | undefined> {
  if (!fs.existsSync(source) || !fs.statSync(source).isDirectory()) return undefined;
  const csnSplit = CODE_SEARCH_NET_SPLITS[split];

  // the language folder itself
  if (fs.existsSync(path.join(source, 'final', 'jsonl'))) {
    return readCodeCorpus(path.dirname(source), path.basename(source), csnSplit, { maxDocuments: options.maxDocuments });
  }

  // a root with one folder per language
  const languages = codeSearchNetLanguages(source);
  if (languages.length === 0) return undefined;
  if (!languages.includes(options.domain)) {
    throw new InvalidInputError(
      `The CodeSearchNet folder ${source} has no language "${options.domain}" (it has ${languages.join(', ')}); pass one of them as the domain`,
    );
  }
  return readCodeCorpus(source, options.domain, csnSplit, { maxDocuments: options.maxDocuments });
}
