/**
 * The RoBERTa configuration as Hugging Face `transformers` writes it in `config.json`
 * (`RobertaConfig`; CodeBERT uses it unchanged), parsed and checked so that a bad file fails on
 * load, not deep in a forward pass.
 */
import * as path from 'path';

import { CheckpointError, loadConfig } from '@modularevo/core-tensor';

/** Values of `hidden_act` this package computes; `gelu` is the exact erf form CodeBERT uses. */
export const HIDDEN_ACTS = ['gelu', 'gelu_new', 'gelu_pytorch_tanh', 'relu'] as const;

/** An activation function name as `hidden_act` spells it. */
export type HiddenAct = (typeof HIDDEN_ACTS)[number];

/** A validated RoBERTa configuration. Field names are the Hugging Face config keys. */
export interface RobertaConfig {
  model_type: 'roberta';
  vocab_size: number;
  hidden_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  intermediate_size: number;
  hidden_act: HiddenAct;
  hidden_dropout_prob: number;
  attention_probs_dropout_prob: number;
  max_position_embeddings: number;
  type_vocab_size: number;
  initializer_range: number;
  layer_norm_eps: number;
  /** Id of `<pad>`; position ids count from `pad_token_id + 1`, so it also offsets positions. */
  pad_token_id: number;
  bos_token_id: number | null;
  eos_token_id: number | null;
  /** Whether `lm_head.decoder.weight` is `embeddings.word_embeddings.weight` (true unless set). */
  tie_word_embeddings: boolean;
  /** The parsed `config.json` object with every key, so saving writes back what was read. */
  raw: Record<string, unknown>;
}

// Defaults of `RobertaConfig.__init__` (via `BertConfig`) in transformers 4.36 for keys a file may omit.
const DEFAULTS = {
  vocab_size: 30522,
  hidden_size: 768,
  num_hidden_layers: 12,
  num_attention_heads: 12,
  intermediate_size: 3072,
  hidden_act: 'gelu',
  hidden_dropout_prob: 0.1,
  attention_probs_dropout_prob: 0.1,
  max_position_embeddings: 512,
  type_vocab_size: 2,
  initializer_range: 0.02,
  layer_norm_eps: 1e-12,
  pad_token_id: 1,
  bos_token_id: 0,
  eos_token_id: 2,
  position_embedding_type: 'absolute',
  tie_word_embeddings: true,
} as const;

const SIZE_KEYS = [
  'vocab_size',
  'hidden_size',
  'num_hidden_layers',
  'num_attention_heads',
  'intermediate_size',
  'max_position_embeddings',
  'type_vocab_size',
] as const;

/**
 * Reads and validates `<dir>/config.json`.
 *
 * @throws CheckpointError when the file is missing, is not JSON, or is not a valid RoBERTa config.
 */
export function loadRobertaConfig(dir: string): RobertaConfig {
  return parseRobertaConfig(loadConfig(dir), path.join(dir, 'config.json'));
}

/**
 * Validates a parsed `config.json` object and fills the defaults `transformers` uses.
 *
 * @param source - the file name to put in error messages
 * @throws CheckpointError naming `source` and the invalid key.
 */
export function parseRobertaConfig(json: Record<string, unknown>, source = 'config.json'): RobertaConfig {
  const fail = (problem: string, hint?: string): never => {
    throw new CheckpointError(source, problem, hint);
  };
  const value = (key: keyof typeof DEFAULTS) => (json[key] === undefined ? DEFAULTS[key] : json[key]);

  // model type and the variant of position embeddings
  if (json.model_type !== 'roberta') {
    fail(`model_type is "${String(json.model_type)}", expected "roberta"`, 'Load a RoBERTa or CodeBERT checkpoint');
  }
  if (value('position_embedding_type') !== 'absolute') {
    fail(`position_embedding_type "${String(json.position_embedding_type)}" is not supported; only "absolute" is`);
  }

  // sizes
  const sizes = {} as Record<(typeof SIZE_KEYS)[number], number>;
  for (const key of SIZE_KEYS) sizes[key] = positiveInteger(value(key), key, fail);
  if (sizes.hidden_size % sizes.num_attention_heads !== 0) {
    fail(`hidden_size ${sizes.hidden_size} is not divisible by num_attention_heads ${sizes.num_attention_heads}`);
  }

  // the padding id offsets every position, so at least one real position must remain
  const padTokenId = tokenId(value('pad_token_id'), 'pad_token_id', fail);
  if (padTokenId === null || padTokenId >= sizes.vocab_size) {
    fail(`pad_token_id ${JSON.stringify(json.pad_token_id)} must be a token id below vocab_size ${sizes.vocab_size}`);
  }
  if (padTokenId! + 1 >= sizes.max_position_embeddings) {
    fail(`max_position_embeddings ${sizes.max_position_embeddings} leaves no position after pad_token_id ${padTokenId}`);
  }

  const hiddenAct = value('hidden_act');
  if (typeof hiddenAct !== 'string' || !(HIDDEN_ACTS as readonly string[]).includes(hiddenAct)) {
    fail(`hidden_act ${JSON.stringify(hiddenAct)} is not supported; use one of ${HIDDEN_ACTS.join(', ')}`);
  }
  const tie = value('tie_word_embeddings');
  if (typeof tie !== 'boolean') fail(`tie_word_embeddings must be true or false, got ${JSON.stringify(tie)}`);

  return {
    model_type: 'roberta',
    ...sizes,
    hidden_act: hiddenAct as HiddenAct,
    hidden_dropout_prob: probability(value('hidden_dropout_prob'), 'hidden_dropout_prob', fail),
    attention_probs_dropout_prob: probability(value('attention_probs_dropout_prob'), 'attention_probs_dropout_prob', fail),
    initializer_range: nonNegative(value('initializer_range'), 'initializer_range', fail),
    layer_norm_eps: nonNegative(value('layer_norm_eps'), 'layer_norm_eps', fail),
    pad_token_id: padTokenId!,
    bos_token_id: tokenId(value('bos_token_id'), 'bos_token_id', fail),
    eos_token_id: tokenId(value('eos_token_id'), 'eos_token_id', fail),
    tie_word_embeddings: tie as boolean,
    raw: { ...json },
  };
}

/**
 * Returns the longest sequence the model accepts, special tokens included:
 * `max_position_embeddings - pad_token_id - 1` (514 - 1 - 1 = 512 for CodeBERT), because
 * position ids start after the padding id.
 */
export function maxSequenceLength(config: RobertaConfig): number {
  return config.max_position_embeddings - config.pad_token_id - 1;
}

type Fail = (problem: string) => never;

function positiveInteger(value: unknown, key: string, fail: Fail): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) fail(`${key} must be a positive integer, got ${JSON.stringify(value)}`);
  return value as number;
}

function tokenId(value: unknown, key: string, fail: Fail): number | null {
  if (value === null) return null;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) fail(`${key} must be a non-negative integer, got ${JSON.stringify(value)}`);
  return value as number;
}

function nonNegative(value: unknown, key: string, fail: Fail): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) fail(`${key} must be a non-negative number, got ${JSON.stringify(value)}`);
  return value as number;
}

function probability(value: unknown, key: string, fail: Fail): number {
  if (typeof value !== 'number' || !(value >= 0 && value < 1)) fail(`${key} must be a probability in [0, 1), got ${JSON.stringify(value)}`);
  return value as number;
}
