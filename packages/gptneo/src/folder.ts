/**
 * The files of a Hugging Face model folder around the weights: the tokenizer files to carry
 * along when saving, whether the tokenizer fits the model, and writing a whole folder.
 */
import * as fs from 'fs';
import * as path from 'path';

import {
  CheckpointError,
  CONFIG_NAME,
  MismatchError,
  MODEL_METADATA_FILES,
  saveSafetensors,
  writeFolderAtomic,
  writeJsonAtomic,
  type StateDict,
} from '@modularevo/core-tensor';

/**
 * Returns the number of token ids the tokenizer in `dir` can produce (largest id + 1), from
 * `tokenizer.json` or from `vocab.json` plus the added tokens of `tokenizer_config.json` and
 * `added_tokens.json`; `undefined` when the folder has no tokenizer.
 *
 * @throws CheckpointError when a tokenizer file is not valid JSON.
 */
export function tokenizerVocabularySize(dir: string): number | undefined {
  const ids: number[] = [];
  const tokenizerJson = readJson(path.join(dir, 'tokenizer.json'));
  if (tokenizerJson) {
    const vocab = tokenizerJson.model?.vocab;
    // BPE and WordPiece store {token: id}; Unigram stores [[token, score], ...] indexed by id.
    if (Array.isArray(vocab)) ids.push(vocab.length - 1);
    else if (vocab && typeof vocab === 'object') ids.push(...(Object.values(vocab) as number[]));
    for (const token of tokenizerJson.added_tokens ?? []) ids.push(token.id);
  } else {
    const vocab = readJson(path.join(dir, 'vocab.json'));
    if (!vocab) return undefined;
    ids.push(...(Object.values(vocab) as number[]));
    const config = readJson(path.join(dir, 'tokenizer_config.json'));
    ids.push(...Object.keys(config?.added_tokens_decoder ?? {}).map(Number));
    ids.push(...(Object.values(readJson(path.join(dir, 'added_tokens.json')) ?? {}) as number[]));
  }
  return ids.reduce((max, id) => Math.max(max, id), -1) + 1;
}

/**
 * Checks that every id the tokenizer in `dir` produces is a row of the model's embedding matrix.
 * A model may have more rows than the tokenizer has tokens (padded vocabularies), not fewer.
 *
 * @throws MismatchError naming both sizes when the tokenizer is larger than `vocab_size`.
 */
export function checkTokenizerVocabulary(dir: string, vocabSize: number): void {
  const tokenizerSize = tokenizerVocabularySize(dir);
  if (tokenizerSize !== undefined && tokenizerSize > vocabSize) {
    throw new MismatchError(
      `The tokenizer in ${dir} produces ids up to ${tokenizerSize - 1} but the model's vocab_size is ${vocabSize}; ` +
        'use the tokenizer saved with this model',
    );
  }
}

/** Copies the tokenizer and generation files of `from` that exist into `to` (not `config.json`). */
export function copyTokenizerFiles(from: string, to: string): void {
  for (const name of MODEL_METADATA_FILES) {
    if (name === CONFIG_NAME) continue;
    const source = path.join(from, name);
    if (fs.existsSync(source)) fs.copyFileSync(source, path.join(to, name));
  }
}

/** Contents of a model folder for {@link saveModelFolder}. */
export interface ModelFolderContents {
  /** Written to `config.json` as is. */
  config: Record<string, unknown>;
  /** Written to `model.safetensors` (tensors sorted by dtype and name, `format: pt` metadata). */
  state: StateDict;
  /** Folder whose tokenizer and generation files are copied along, when given. */
  tokenizerFrom?: string;
  /** Further JSON files by name, such as `task.json`. */
  json?: Record<string, unknown>;
  /** Replace an existing non-empty folder. */
  overwrite?: boolean;
}

/**
 * Writes a Hugging Face model folder that `from_pretrained` can load. The folder is built under
 * a temporary name and renamed at the end, so a failure leaves nothing behind.
 *
 * @throws InvalidInputError when `dir` exists and is not empty, unless `overwrite` is set.
 */
export async function saveModelFolder(dir: string, contents: ModelFolderContents): Promise<void> {
  await writeFolderAtomic(
    dir,
    (temporary) => {
      if (contents.tokenizerFrom) copyTokenizerFiles(contents.tokenizerFrom, temporary);
      writeJsonAtomic(path.join(temporary, 'config.json'), contents.config);
      saveSafetensors(path.join(temporary, 'model.safetensors'), contents.state, { format: 'pt' });
      for (const [name, value] of Object.entries(contents.json ?? {})) writeJsonAtomic(path.join(temporary, name), value);
    },
    { overwrite: contents.overwrite },
  );
}

function readJson(file: string): any {
  if (!fs.existsSync(file)) return undefined;
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    throw new CheckpointError(file, `not valid JSON (${(error as Error).message})`);
  }
}
