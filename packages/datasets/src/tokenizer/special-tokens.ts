import * as fs from 'fs';
import * as path from 'path';

import { CheckpointError } from '@modularevo/core-tensor';

/** A token matched before BPE runs, with the `AddedToken` flags of Hugging Face `tokenizers`. */
export interface AddedTokenSpec {
  content: string;
  /** Absorb whitespace on the left (RoBERTa's `<mask>` has this, so " <mask>" is one token). */
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  singleWord: boolean;
  special: boolean;
}

/** The special-token roles of `tokenizer_config.json` and `special_tokens_map.json`. */
export const SPECIAL_TOKEN_ROLES = ['bos_token', 'eos_token', 'unk_token', 'sep_token', 'pad_token', 'cls_token', 'mask_token'] as const;

/** A special-token role name, exactly as transformers writes it. */
export type SpecialTokenRole = (typeof SPECIAL_TOKEN_ROLES)[number];

/** The special tokens of a tokenizer by role, plus `additional_special_tokens`. */
export interface SpecialTokens {
  roles: Partial<Record<SpecialTokenRole, AddedTokenSpec>>;
  additional: AddedTokenSpec[];
}

/** Reads a JSON file of a model folder, or returns undefined when it is absent. */
export function readOptionalJson(dir: string, name: string): Record<string, any> | undefined {
  const file = path.join(dir, name);
  if (!fs.existsSync(file)) return undefined;
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    throw new CheckpointError(file, `is not valid JSON (${(error as Error).message.split('\n')[0]})`, 'Restore the file from the model repository');
  }
}

/**
 * Converts a token entry of a tokenizer config (a plain string, or an object with `content` and
 * the AddedToken flags, which transformers writes with `"__type": "AddedToken"`) to a spec.
 * `defaults` gives the flags a plain string gets, as the slow tokenizer class sets them.
 */
export function toAddedToken(value: unknown, defaults: Partial<AddedTokenSpec>, file: string): AddedTokenSpec | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value === 'string') {
    return { content: value, lstrip: false, rstrip: false, normalized: false, singleWord: false, special: true, ...defaults };
  }
  if (typeof value === 'object' && typeof (value as any).content === 'string') {
    const entry = value as Record<string, unknown>;
    return {
      content: entry.content as string,
      lstrip: Boolean(entry.lstrip ?? defaults.lstrip ?? false),
      rstrip: Boolean(entry.rstrip ?? defaults.rstrip ?? false),
      normalized: Boolean(entry.normalized ?? false),
      singleWord: Boolean(entry.single_word ?? false),
      special: Boolean(entry.special ?? true),
    };
  }
  throw new CheckpointError(file, `has an invalid token entry ${JSON.stringify(value)}`, 'Use a string or an object with "content"');
}

/**
 * Collects the special tokens from `tokenizer_config.json` and `special_tokens_map.json` (the
 * config wins where both name a role, as in transformers), falling back to `defaults` for roles
 * neither file names.
 */
export function readSpecialTokens(
  dir: string,
  defaults: Partial<Record<SpecialTokenRole, AddedTokenSpec>>,
): SpecialTokens {
  const config = readOptionalJson(dir, 'tokenizer_config.json') ?? {};
  const map = readOptionalJson(dir, 'special_tokens_map.json') ?? {};
  const roles: SpecialTokens['roles'] = {};

  for (const role of SPECIAL_TOKEN_ROLES) {
    const fallback = defaults[role];
    const flags = fallback ? { lstrip: fallback.lstrip, rstrip: fallback.rstrip } : {};
    const fromConfig = toAddedToken(config[role], flags, path.join(dir, 'tokenizer_config.json'));
    const fromMap = toAddedToken(map[role], flags, path.join(dir, 'special_tokens_map.json'));
    const chosen = fromConfig ?? fromMap ?? (role in config || role in map ? undefined : fallback);
    if (chosen) roles[role] = chosen;
  }

  const additionalSource = config.additional_special_tokens ?? map.additional_special_tokens ?? [];
  const additional = (additionalSource as unknown[])
    .map((value) => toAddedToken(value, {}, path.join(dir, 'tokenizer_config.json')))
    .filter((token): token is AddedTokenSpec => token !== undefined);
  return { roles, additional };
}

/**
 * Reads tokens added after training: `added_tokens_decoder` of `tokenizer_config.json`
 * (transformers 4.34 and later) and the older `added_tokens.json`, as id to token.
 */
export function readAddedTokens(dir: string): Map<number, AddedTokenSpec> {
  const added = new Map<number, AddedTokenSpec>();
  const config = readOptionalJson(dir, 'tokenizer_config.json') ?? {};
  const configFile = path.join(dir, 'tokenizer_config.json');

  for (const [id, value] of Object.entries(config.added_tokens_decoder ?? {})) {
    const token = toAddedToken(value, {}, configFile);
    if (token) added.set(Number(id), token);
  }

  const legacy = readOptionalJson(dir, 'added_tokens.json') ?? {};
  for (const [content, id] of Object.entries(legacy)) {
    if (!added.has(Number(id))) {
      added.set(Number(id), { content, lstrip: false, rstrip: false, normalized: true, singleWord: false, special: false });
    }
  }
  return added;
}
