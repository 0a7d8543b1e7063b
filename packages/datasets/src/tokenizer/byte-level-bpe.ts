import * as fs from 'fs';
import * as path from 'path';

import { CheckpointError } from '@modularevo/core-tensor';

import { readAddedTokens, readOptionalJson, readSpecialTokens, type AddedTokenSpec, type SpecialTokenRole } from './special-tokens';

/** The two byte-level BPE families that ship `vocab.json` + `merges.txt`. */
export type ByteLevelStyle = 'gpt2' | 'roberta';

const GPT2_CLASSES = ['GPT2Tokenizer', 'GPT2TokenizerFast', 'CodeGenTokenizer', 'CodeGenTokenizerFast'];
const ROBERTA_CLASSES = ['RobertaTokenizer', 'RobertaTokenizerFast', 'BartTokenizer', 'BartTokenizerFast'];
const GPT2_MODEL_TYPES = ['gpt2', 'gpt_neo', 'gptj', 'codegen'];

function plain(content: string, lstrip = false): AddedTokenSpec {
  return { content, lstrip, rstrip: false, normalized: false, singleWord: false, special: true };
}

/** Special tokens a slow tokenizer class assumes when its config names none (transformers 4.36). */
const DEFAULT_SPECIAL_TOKENS: Record<ByteLevelStyle, Partial<Record<SpecialTokenRole, AddedTokenSpec>>> = {
  gpt2: { bos_token: plain('<|endoftext|>'), eos_token: plain('<|endoftext|>'), unk_token: plain('<|endoftext|>') },
  roberta: {
    bos_token: plain('<s>'),
    eos_token: plain('</s>'),
    sep_token: plain('</s>'),
    cls_token: plain('<s>'),
    unk_token: plain('<unk>'),
    pad_token: plain('<pad>'),
    mask_token: plain('<mask>', true),
  },
};

/**
 * Decides GPT-2 or RoBERTa style from `tokenizer_class` in `tokenizer_config.json`, else from
 * `model_type` in `config.json`, else from whether the vocabulary has `<s>` and `</s>`.
 */
export function detectByteLevelStyle(dir: string, vocab: Record<string, number>): ByteLevelStyle {
  const tokenizerClass = readOptionalJson(dir, 'tokenizer_config.json')?.tokenizer_class;
  if (typeof tokenizerClass === 'string') {
    if (GPT2_CLASSES.includes(tokenizerClass)) return 'gpt2';
    if (ROBERTA_CLASSES.includes(tokenizerClass)) return 'roberta';
    throw new CheckpointError(
      path.join(dir, 'tokenizer_config.json'),
      `tokenizer_class "${tokenizerClass}" cannot be built from vocab.json and merges.txt`,
      `Add a tokenizer.json (save the tokenizer with a fast tokenizer), or use one of ${[...GPT2_CLASSES, ...ROBERTA_CLASSES].join(', ')}`,
    );
  }

  const modelType = readOptionalJson(dir, 'config.json')?.model_type;
  if (GPT2_MODEL_TYPES.includes(modelType)) return 'gpt2';
  return '<s>' in vocab && '</s>' in vocab ? 'roberta' : 'gpt2';
}

function readVocab(dir: string): Record<string, number> {
  const file = path.join(dir, 'vocab.json');
  const vocab = readOptionalJson(dir, 'vocab.json');
  if (!vocab || typeof vocab !== 'object' || Array.isArray(vocab)) {
    throw new CheckpointError(file, 'is not a JSON object of token to id', 'Restore vocab.json from the model repository');
  }
  return vocab as Record<string, number>;
}

function readMerges(dir: string): string[] {
  const file = path.join(dir, 'merges.txt');
  const merges: string[] = [];

  // the first line may be a "#version: ..." header; a trailing newline leaves an empty last line
  fs.readFileSync(file, 'utf8')
    .split('\n')
    .forEach((line, index) => {
      if (line.length === 0 || (index === 0 && line.startsWith('#version'))) return;
      if (line.split(' ').length !== 2) {
        throw new CheckpointError(file, `line ${index + 1} is not a merge of two tokens: ${JSON.stringify(line)}`, 'Restore merges.txt from the model repository');
      }
      merges.push(line);
    });
  return merges;
}

/** A byte-level BPE tokenizer rebuilt from `vocab.json` + `merges.txt`. */
export interface ByteLevelBpeFiles {
  style: ByteLevelStyle;
  /** The `tokenizer.json` structure that a fast tokenizer converted from these files would have. */
  tokenizerJson: Record<string, unknown>;
  /** The role of each special token, for `bosId`, `eosId` and the others. */
  roles: Partial<Record<SpecialTokenRole, string>>;
}

/**
 * Builds, in memory, the `tokenizer.json` that transformers' slow-to-fast conversion produces for a
 * GPT-2 or RoBERTa byte-level BPE tokenizer stored as `vocab.json` + `merges.txt`: ByteLevel
 * pre-tokenizer and decoder, BPE model, the special tokens as added tokens with their
 * lstrip/rstrip flags, and the post-processor (RoBERTa wraps `<s> ... </s>`; GPT-2 adds nothing
 * unless `add_bos_token` is set).
 *
 * Throws `CheckpointError` for malformed files or a special token missing from the vocabulary.
 */
export function buildByteLevelBpe(dir: string): ByteLevelBpeFiles {
  const vocab = readVocab(dir);
  const merges = readMerges(dir);
  const style = detectByteLevelStyle(dir, vocab);
  const config = readOptionalJson(dir, 'tokenizer_config.json') ?? {};
  const { roles, additional } = readSpecialTokens(dir, DEFAULT_SPECIAL_TOKENS[style]);

  // added tokens by id: the special tokens, then tokens added after training
  const added = readAddedTokens(dir);
  const addedIds = new Map([...added].map(([id, token]) => [token.content, id]));
  let nextId = 0;
  for (const id of [...Object.values(vocab), ...added.keys()]) nextId = Math.max(nextId, id + 1);
  const idOf = (token: AddedTokenSpec): number => {
    const known = vocab[token.content] ?? addedIds.get(token.content);
    if (known !== undefined) return known;

    // as the slow tokenizer's add_tokens does, a special token missing from vocab.json gets the next id
    addedIds.set(token.content, nextId);
    nextId += 1;
    return nextId - 1;
  };
  for (const token of [...Object.values(roles), ...additional]) {
    const id = idOf(token);
    const existing = added.get(id);
    added.set(id, existing ? { ...existing, ...token, special: true } : token);
  }

  const addedTokens = [...added.entries()]
    .sort(([a], [b]) => a - b)
    .map(([id, token]) => ({
      id,
      content: token.content,
      single_word: token.singleWord,
      lstrip: token.lstrip,
      rstrip: token.rstrip,
      normalized: token.normalized,
      special: token.special,
    }));

  const addPrefixSpace = Boolean(config.add_prefix_space ?? false);
  const roleContents: ByteLevelBpeFiles['roles'] = {};
  for (const [role, token] of Object.entries(roles)) roleContents[role as SpecialTokenRole] = token!.content;

  const tokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: addPrefixSpace, trim_offsets: true, use_regex: true },
    post_processor: postProcessor(dir, style, roles, config, idOf),
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: style === 'roberta' ? (roles.unk_token?.content ?? null) : null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges,
    },
  };
  return { style, tokenizerJson, roles: roleContents };
}

function postProcessor(
  dir: string,
  style: ByteLevelStyle,
  roles: Partial<Record<SpecialTokenRole, AddedTokenSpec>>,
  config: Record<string, any>,
  idOf: (token: AddedTokenSpec) => number,
): Record<string, unknown> {
  if (style === 'roberta') {
    const cls = roles.cls_token ?? roles.bos_token;
    const sep = roles.sep_token ?? roles.eos_token;
    if (!cls || !sep) throw new CheckpointError(dir, 'a RoBERTa tokenizer needs a cls or bos token and a sep or eos token', 'Name them in tokenizer_config.json');
    return {
      type: 'RobertaProcessing',
      sep: [sep.content, idOf(sep)],
      cls: [cls.content, idOf(cls)],
      trim_offsets: true,
      add_prefix_space: Boolean(config.add_prefix_space ?? false),
    };
  }

  // GPT2Tokenizer prepends bos only when add_bos_token is set (CodeGen and some GPT-2 variants)
  if (config.add_bos_token && roles.bos_token) {
    const bos = roles.bos_token.content;
    return {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: bos, type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: bos, type_id: 0 } },
        { Sequence: { id: 'B', type_id: 0 } },
      ],
      special_tokens: { [bos]: { id: bos, ids: [idOf(roles.bos_token)], tokens: [bos] } },
    };
  }
  return { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true };
}
