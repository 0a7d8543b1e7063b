/**
 * Code corpora for span corruption: the functions of one CodeSearchNet language, as CodeT5 was
 * pre-trained on them.
 */
import { InvalidInputError } from '@modularevo/core-tensor';
import { iterateCodeSearchNet, type CodeSearchNetSplit } from '@modularevo/datasets';

/** Options of {@link readCodeSearchNetTexts}. */
export interface CodeCorpusOptions {
  /** CodeSearchNet split (default `train`). */
  split?: CodeSearchNetSplit;
  /** Stop after this many functions. */
  maxDocuments?: number;
}

/**
 * Reads the source code (`code` field) of every function of one language in a CodeSearchNet
 * folder (`<root>/<language>/final/jsonl/<split>/*.jsonl[.gz]`), in file order. Functions whose
 * code is empty are skipped.
 *
 * @throws CheckpointError for a missing folder or a malformed record
 * @throws InvalidInputError when `maxDocuments` is invalid or no function has code
 */
export async function readCodeSearchNetTexts(root: string, language: string, options: CodeCorpusOptions = {}): Promise<string[]> {
  const limit = options.maxDocuments ?? Infinity;
  if (limit !== Infinity && (!Number.isSafeInteger(limit) || limit < 1)) throw new InvalidInputError(`maxDocuments must be a positive integer, not ${limit}`);
  const split = options.split ?? 'train';

  const texts: string[] = [];
  for await (const record of iterateCodeSearchNet(root, language, split)) {
    if (texts.length >= limit) break;
    if (typeof record.code === 'string' && record.code.trim() !== '') texts.push(record.code);
  }
  if (texts.length === 0) throw new InvalidInputError(`CodeSearchNet ${language} ${split} in ${root} has no function with code`);
  return texts;
}
