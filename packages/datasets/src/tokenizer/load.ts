import * as fs from 'fs';
import * as path from 'path';

import { CheckpointError, getLogger } from '@modularevo/core-tensor';

import { buildByteLevelBpe } from './byte-level-bpe';
import { readOptionalJson, readSpecialTokens, SPECIAL_TOKEN_ROLES, type SpecialTokenRole } from './special-tokens';
import { HfTokenizer, type HfTokenizerSettings, type Tokenizer } from './tokenizer';

const log = getLogger('datasets');

/** Options of {@link loadTokenizer}. */
export interface LoadTokenizerOptions {
  /**
   * Pad with the EOS id when the model defines no pad token, as GPT-Neo fine-tuning does
   * (`tokenizer.pad_token = tokenizer.eos_token`). A model's own pad token always wins.
   */
  padWithEos?: boolean;
}

/** Ids that `config.json` names, used for roles the tokenizer files leave out. */
function fallbackIds(dir: string): HfTokenizerSettings['fallbackIds'] {
  const config = readOptionalJson(dir, 'config.json') ?? {};
  const id = (value: unknown): number | undefined => (Number.isInteger(value) ? (value as number) : undefined);
  return { bos: id(config.bos_token_id), eos: id(config.eos_token_id), pad: id(config.pad_token_id) };
}

/** Returns `model_max_length` and `clean_up_tokenization_spaces` from `tokenizer_config.json`. */
function configSettings(dir: string): Pick<HfTokenizerSettings, 'modelMaxLength' | 'cleanUpTokenizationSpaces'> {
  const config = readOptionalJson(dir, 'tokenizer_config.json') ?? {};
  return {
    modelMaxLength: typeof config.model_max_length === 'number' ? config.model_max_length : undefined,
    cleanUpTokenizationSpaces: typeof config.clean_up_tokenization_spaces === 'boolean' ? config.clean_up_tokenization_spaces : undefined,
  };
}

/** Loads a folder that has a `tokenizer.json` (a fast tokenizer as `save_pretrained` writes it). */
function loadTokenizerJson(dir: string, options: LoadTokenizerOptions): Tokenizer {
  const tokenizerJson = readOptionalJson(dir, 'tokenizer.json')!;
  if (!tokenizerJson.model || !Array.isArray(tokenizerJson.added_tokens)) {
    throw new CheckpointError(path.join(dir, 'tokenizer.json'), 'has no "model" or "added_tokens"', 'Save the tokenizer again with a current transformers or tokenizers release');
  }

  // roles come from the config files; tokenizer.json itself does not say which token is eos
  const { roles } = readSpecialTokens(dir, {});
  const roleContents: Partial<Record<SpecialTokenRole, string>> = {};
  for (const role of SPECIAL_TOKEN_ROLES) if (roles[role]) roleContents[role] = roles[role]!.content;

  try {
    return new HfTokenizer(tokenizerJson, { roles: roleContents, fallbackIds: fallbackIds(dir), ...configSettings(dir), ...options });
  } catch (error) {
    throw new CheckpointError(path.join(dir, 'tokenizer.json'), `could not be loaded (${(error as Error).message})`, 'Check that the file comes from a supported tokenizer (BPE, WordPiece, Unigram)');
  }
}

/**
 * Loads the tokenizer of a Hugging Face model folder: from `tokenizer.json` when present, else
 * from `vocab.json` + `merges.txt` (GPT-2 or RoBERTa/CodeT5 byte-level BPE), reading special
 * tokens from `tokenizer_config.json`, `special_tokens_map.json` and `added_tokens.json`.
 * Encodings match the slow `GPT2Tokenizer` / `RobertaTokenizer` of transformers 4.36.2.
 *
 * Throws `CheckpointError` naming the folder when it has neither file set, or a file is malformed.
 */
export function loadTokenizer(modelDir: string, options: LoadTokenizerOptions = {}): Tokenizer {
  if (!fs.existsSync(modelDir) || !fs.statSync(modelDir).isDirectory()) {
    throw new CheckpointError(modelDir, 'model folder not found', 'Pass the folder that holds the tokenizer files');
  }

  if (fs.existsSync(path.join(modelDir, 'tokenizer.json'))) return loadTokenizerJson(modelDir, options);

  const missing = ['vocab.json', 'merges.txt'].filter((name) => !fs.existsSync(path.join(modelDir, name)));
  if (missing.length > 0) {
    throw new CheckpointError(modelDir, `has no tokenizer.json and no ${missing.join(' or ')}`, 'Add tokenizer.json, or vocab.json and merges.txt, from the model repository');
  }

  const { style, tokenizerJson, roles } = buildByteLevelBpe(modelDir);
  log.debug(`tokenizer ${modelDir}: ${style}-style byte-level BPE from vocab.json and merges.txt`);
  return new HfTokenizer(tokenizerJson, { roles, fallbackIds: fallbackIds(modelDir), ...configSettings(modelDir), ...options });
}
