/**
 * The domain corpus a module is learned on: training texts and held-out test texts, given
 * directly or read from Pile-style JSON lines (`{"text": ...}`, plain or `.zst`/`.gz`), as one
 * folder with train and test splits or one path per split. An architecture may read a layout of
 * its own first (`Architecture.readCorpus`).
 */
import * as fs from 'fs';

import { getLogger, InvalidInputError } from '@modularevo/core-tensor';
import { readCorpusTexts, type CorpusSplit } from '@modularevo/datasets';

const log = getLogger('modularize');

/** Texts of one split, or the file or folder to read them from. */
export type CorpusSplitSource = string | readonly string[];

/**
 * A modularization corpus: a folder with `train` and `test` splits (`train.jsonl`,
 * `test.jsonl.zst`, `train/` of shards, ...), or the source of each split.
 */
export type CorpusSource = string | { train: CorpusSplitSource; test: CorpusSplitSource };

/** The texts of both splits. */
export interface CorpusTexts {
  train: string[];
  test: string[];
  /** Source of each split (a path, or a count of texts given directly), for logs and the run configuration. */
  sources: { train: string; test: string };
}

/**
 * Reads one split from a path in a layout of its own, or returns undefined to leave the path to
 * the JSON-lines reader. `Architecture.readCorpus` bound to a domain is one.
 */
export type CorpusSplitReader = (source: string, split: CorpusSplit) => Promise<string[] | undefined>;

/** Options of {@link readModularizationCorpus}. */
export interface ReadCorpusOptions {
  /** Stop reading a split after this many documents. */
  maxDocuments?: number;
  /** Tried on every split given as a path before the JSON-lines reader. */
  readSplit?: CorpusSplitReader;
}

/**
 * Reads both splits of a modularization corpus. A single file is rejected, because its test
 * split would be its own training text; name the test split separately.
 *
 * @throws CheckpointError for a missing corpus or split, or a record without a `text` string
 * @throws InvalidInputError for a split with no documents or only empty ones, or a single file
 *   given as the whole corpus
 */
export async function readModularizationCorpus(source: CorpusSource, options: ReadCorpusOptions = {}): Promise<CorpusTexts> {
  if (typeof source === 'string' && fs.existsSync(source) && fs.statSync(source).isFile()) {
    throw new InvalidInputError(
      `The corpus ${source} is one file, so it has no separate test split; pass the test split too (--test-corpus), or a folder with train and test files`,
    );
  }
  const splits = typeof source === 'string' ? { train: source, test: source } : source;

  const result = {
    train: await readSplit(splits.train, 'train', options),
    test: await readSplit(splits.test, 'test', options),
    sources: { train: describe(splits.train, 'train'), test: describe(splits.test, 'test') },
  };
  log.info(`corpus: ${result.train.length} training documents from ${result.sources.train}, ${result.test.length} test documents from ${result.sources.test}`);
  return result;
}

/** Reads one split: texts as given, a file whole, or the split of that name in a folder. */
async function readSplit(source: CorpusSplitSource, role: CorpusSplit, options: ReadCorpusOptions): Promise<string[]> {
  let texts: string[];
  if (typeof source !== 'string') {
    texts = source.slice(0, options.maxDocuments ?? source.length);
  } else {
    const own = await options.readSplit?.(source, role);
    texts = own ?? (await readCorpusTexts(source, { split: role, maxDocuments: options.maxDocuments }));
  }

  const where = describe(source, role);
  if (texts.length === 0) {
    throw new InvalidInputError(`The ${role} split of the corpus (${where}) has no documents; give it at least one document with a "text" field`);
  }
  if (texts.every((text) => text.trim() === '')) {
    throw new InvalidInputError(`Every document of the ${role} split of the corpus (${where}) is empty; check the "text" field`);
  }
  return texts;
}

function describe(source: CorpusSplitSource, role: string): string {
  return typeof source === 'string' ? source : `${source.length} ${role} texts given directly`;
}
