import * as fs from 'fs';
import * as nodePath from 'path';

import { CheckpointError } from '../errors';
import { getLogger } from '../log';
import { removeQuietly, temporaryPath } from './atomic';
import { CONFIG_NAME, GENERATION_CONFIG_NAME, WEIGHT_FILES } from './file-names';
import { PyTorchFile } from './pytorch';
import type { CheckpointReader } from './reader';
import { SafetensorsFile } from './safetensors';
import { ShardedCheckpoint } from './sharded';
import type { StateDict } from './state-dict';

const log = getLogger('checkpoint');

/**
 * Files of a model folder that are not weights and travel with them: the configs and every
 * tokenizer file `transformers` tokenizers save (slow and fast BPE, WordPiece, SentencePiece).
 */
export const MODEL_METADATA_FILES = [
  CONFIG_NAME,
  GENERATION_CONFIG_NAME,
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'added_tokens.json',
  'vocab.json',
  'merges.txt',
  'vocab.txt',
  'spiece.model',
  'sentencepiece.bpe.model',
  'tokenizer.model',
] as const;

/**
 * Opens the weights of a model folder, taking the first of `model.safetensors`,
 * `model.safetensors.index.json`, `pytorch_model.bin` and `pytorch_model.bin.index.json` that
 * exists (the order `from_pretrained` uses). `path` may also name one of those files, or any
 * `.safetensors`, `.bin` or `.index.json` file, directly. Throws a CheckpointError when the
 * folder is missing or contains none of them, or when the file cannot be read.
 */
export function openCheckpoint(path: string): CheckpointReader {
  if (!fs.existsSync(path)) throw new CheckpointError(path, 'model folder or weights file not found');
  if (!fs.statSync(path).isDirectory()) return openWeightsFile(path);

  for (const name of WEIGHT_FILES) {
    const file = nodePath.join(path, name);
    if (fs.existsSync(file)) {
      log.debug(`reading weights from ${file}`);
      return openWeightsFile(file);
    }
  }
  throw new CheckpointError(
    path,
    `folder contains no model weights (looked for ${WEIGHT_FILES.join(', ')})`,
    'Pass a Hugging Face model folder saved with save_pretrained',
  );
}

/** Opens one weights file by its name: `.safetensors`, `.index.json` (sharded) or `.bin`/`.pt`/`.pth` (torch.save). */
export function openWeightsFile(file: string): CheckpointReader {
  if (file.endsWith('.safetensors')) return SafetensorsFile.open(file);
  if (file.endsWith('.index.json')) return ShardedCheckpoint.open(file);
  if (/\.(bin|pt|pth)$/.test(file)) return PyTorchFile.open(file);
  throw new CheckpointError(file, 'unknown weights file type', 'Use a .safetensors, .bin or .index.json file');
}

/** Reads every tensor of a model folder (or weights file), in checkpoint order. */
export function loadStateDict(path: string): StateDict {
  const reader = openCheckpoint(path);
  try {
    const state: StateDict = new Map();
    for (const name of reader.keys()) state.set(name, reader.read(name));
    return state;
  } finally {
    reader.close();
  }
}

/**
 * Reads `config.json` of a model folder as a plain object with Hugging Face key names. Throws
 * a CheckpointError when the file is missing, is not valid JSON, or is not a JSON object.
 */
export function loadConfig<T extends object = Record<string, unknown>>(dir: string): T {
  const file = nodePath.join(dir, CONFIG_NAME);
  if (!fs.existsSync(file)) {
    throw new CheckpointError(file, 'missing config.json', 'A Hugging Face model folder needs the config.json that save_pretrained writes');
  }
  let config: unknown;
  try {
    config = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    throw new CheckpointError(file, `config.json is not valid JSON (${(error as Error).message})`);
  }
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new CheckpointError(file, 'config.json does not contain a JSON object');
  }
  return config as T;
}

/**
 * Copies the configs and tokenizer files (`MODEL_METADATA_FILES` that exist) of the model
 * folder `fromDir` into `toDir` (created when missing), each under a temporary name that is
 * then renamed, so a fine-tuned or merged model stays loadable with its tokenizer. Weights
 * are not copied. Returns the names copied. Throws a CheckpointError when `fromDir` has no
 * `config.json`.
 */
export function copyModelMetadata(fromDir: string, toDir: string): string[] {
  const config = nodePath.join(fromDir, CONFIG_NAME);
  if (!fs.existsSync(config)) {
    throw new CheckpointError(config, 'missing config.json, so this is not a model folder', 'Pass the folder of the base model');
  }

  fs.mkdirSync(toDir, { recursive: true });
  const copied: string[] = [];
  for (const name of MODEL_METADATA_FILES) {
    const source = nodePath.join(fromDir, name);
    if (!fs.existsSync(source)) continue;
    const target = nodePath.join(toDir, name);
    const temporary = temporaryPath(target);
    try {
      fs.copyFileSync(source, temporary);
      fs.renameSync(temporary, target);
    } catch (error) {
      removeQuietly(temporary);
      throw error;
    }
    copied.push(name);
  }
  log.debug(`copied ${copied.join(', ')} from ${fromDir} to ${toDir}`);
  return copied;
}
