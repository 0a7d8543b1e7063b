/**
 * The GPT-Neo configuration as Hugging Face `transformers` writes it in `config.json`
 * (`GPTNeoConfig`), parsed and checked so that a bad file fails on load, not deep in a forward pass.
 */
import * as fs from 'fs';
import * as path from 'path';

import { CheckpointError } from '@modularevo/core-tensor';

import { ACTIVATION_NAMES, isActivationName, type ActivationName } from './activations';

/** Attention kind of one block: `global` attends to every earlier token, `local` to a sliding window of them. */
export type AttentionType = 'global' | 'local';

/** `attention_types` as `config.json` stores it: `[[["global", "local"], 6]]` repeats the pattern 6 times. */
export type AttentionTypesSpec = [AttentionType[], number][];

/** A validated GPT-Neo configuration. Field names are the Hugging Face config keys. */
export interface GPTNeoConfig {
  model_type: 'gpt_neo';
  vocab_size: number;
  max_position_embeddings: number;
  hidden_size: number;
  num_layers: number;
  num_heads: number;
  attention_types: AttentionTypesSpec;
  /** One entry per block, expanded from `attention_types`. */
  attention_layers: AttentionType[];
  window_size: number;
  /** Width of the MLP; `config.json` may store null, which means 4 * hidden_size. */
  intermediate_size: number;
  activation_function: ActivationName;
  layer_norm_epsilon: number;
  resid_dropout: number;
  embed_dropout: number;
  attention_dropout: number;
  initializer_range: number;
  bos_token_id: number | null;
  eos_token_id: number | null;
  tie_word_embeddings: boolean;
  /** The parsed `config.json` object with every key, so saving keeps the keys this package does not use. */
  raw: Record<string, unknown>;
}

// Defaults of `GPTNeoConfig.__init__` in transformers 4.36 for the keys a file may omit.
const DEFAULTS = {
  window_size: 256,
  activation_function: 'gelu_new',
  layer_norm_epsilon: 1e-5,
  resid_dropout: 0.0,
  embed_dropout: 0.0,
  attention_dropout: 0.0,
  initializer_range: 0.02,
  bos_token_id: 50256,
  eos_token_id: 50256,
  tie_word_embeddings: true,
} as const;

const REQUIRED_INTEGERS = ['vocab_size', 'max_position_embeddings', 'hidden_size', 'num_layers', 'num_heads'] as const;

/**
 * Reads and validates `<dir>/config.json`.
 *
 * @throws CheckpointError when the file is missing, is not JSON, or is not a valid GPT-Neo config.
 */
export function loadGPTNeoConfig(dir: string): GPTNeoConfig {
  const file = path.join(dir, 'config.json');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new CheckpointError(file, `cannot read config (${(error as Error).message})`, 'Point to a Hugging Face model folder');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new CheckpointError(file, `config is not valid JSON (${(error as Error).message})`);
  }
  return parseGPTNeoConfig(json, file);
}

/**
 * Validates a parsed `config.json` object and fills the defaults `transformers` uses.
 *
 * @param source - the file name to put in error messages
 * @throws CheckpointError naming `source` and the offending key.
 */
export function parseGPTNeoConfig(json: unknown, source = 'config.json'): GPTNeoConfig {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new CheckpointError(source, 'config is not a JSON object');
  }
  const raw = json as Record<string, unknown>;
  const fail = (problem: string): never => {
    throw new CheckpointError(source, problem);
  };

  // model type
  if (raw.model_type !== undefined && raw.model_type !== 'gpt_neo') {
    fail(`model_type is "${String(raw.model_type)}", expected "gpt_neo"; this folder contains another architecture`);
  }

  // required sizes
  const sizes: Record<string, number> = {};
  for (const key of REQUIRED_INTEGERS) {
    if (raw[key] === undefined || raw[key] === null) fail(`required key "${key}" is missing`);
    sizes[key] = positiveInteger(raw[key], key, fail);
  }
  if (sizes.hidden_size % sizes.num_heads !== 0) {
    fail(`hidden_size ${sizes.hidden_size} is not divisible by num_heads ${sizes.num_heads}`);
  }

  // attention layout
  const attentionTypes = parseAttentionTypes(raw, fail);
  const attentionLayers = expandAttentionTypes(attentionTypes);
  if (attentionLayers.length !== sizes.num_layers) {
    fail(
      `attention_types expand to ${attentionLayers.length} layers but num_layers is ${sizes.num_layers}; ` +
        'make the repetition counts add up to num_layers',
    );
  }
  if (raw.attention_layers !== undefined && JSON.stringify(raw.attention_layers) !== JSON.stringify(attentionLayers)) {
    fail(
      `attention_layers ${JSON.stringify(raw.attention_layers)} disagree with attention_types, which expand to ` +
        `${JSON.stringify(attentionLayers)}`,
    );
  }

  // optional keys with defaults
  const intermediate = raw.intermediate_size ?? null;
  const activation = raw.activation_function ?? DEFAULTS.activation_function;
  if (typeof activation !== 'string' || !isActivationName(activation)) {
    fail(`activation_function "${String(activation)}" is not supported; use one of ${ACTIVATION_NAMES.join(', ')}`);
  }
  const tie = raw.tie_word_embeddings ?? DEFAULTS.tie_word_embeddings;
  if (typeof tie !== 'boolean') fail(`tie_word_embeddings must be true or false, got ${JSON.stringify(tie)}`);

  return {
    model_type: 'gpt_neo',
    vocab_size: sizes.vocab_size,
    max_position_embeddings: sizes.max_position_embeddings,
    hidden_size: sizes.hidden_size,
    num_layers: sizes.num_layers,
    num_heads: sizes.num_heads,
    attention_types: attentionTypes,
    attention_layers: attentionLayers,
    window_size: positiveInteger(raw.window_size ?? DEFAULTS.window_size, 'window_size', fail),
    intermediate_size:
      intermediate === null ? 4 * sizes.hidden_size : positiveInteger(intermediate, 'intermediate_size', fail),
    activation_function: activation as ActivationName,
    layer_norm_epsilon: nonNegativeNumber(raw.layer_norm_epsilon ?? DEFAULTS.layer_norm_epsilon, 'layer_norm_epsilon', fail),
    resid_dropout: probability(raw.resid_dropout ?? DEFAULTS.resid_dropout, 'resid_dropout', fail),
    embed_dropout: probability(raw.embed_dropout ?? DEFAULTS.embed_dropout, 'embed_dropout', fail),
    attention_dropout: probability(raw.attention_dropout ?? DEFAULTS.attention_dropout, 'attention_dropout', fail),
    initializer_range: nonNegativeNumber(raw.initializer_range ?? DEFAULTS.initializer_range, 'initializer_range', fail),
    bos_token_id: tokenId(raw.bos_token_id === undefined ? DEFAULTS.bos_token_id : raw.bos_token_id, 'bos_token_id', fail),
    eos_token_id: tokenId(raw.eos_token_id === undefined ? DEFAULTS.eos_token_id : raw.eos_token_id, 'eos_token_id', fail),
    tie_word_embeddings: tie as boolean,
    raw: { ...raw },
  };
}

/**
 * Returns the `config.json` object for `config`: every key that was read, with the GPT-Neo keys
 * taken from the parsed fields, so a changed field is saved. A key the file did not have is added
 * only when its value differs from the default. `intermediate_size` stays null when the file had
 * null and the width is still 4 * hidden_size. An unchanged config therefore saves as it was read.
 */
export function gptNeoConfigToJson(config: GPTNeoConfig): Record<string, unknown> {
  const json: Record<string, unknown> = { ...config.raw };
  const keys = [
    'model_type',
    'vocab_size',
    'max_position_embeddings',
    'hidden_size',
    'num_layers',
    'num_heads',
    'attention_types',
    'attention_layers',
    'window_size',
    'activation_function',
    'layer_norm_epsilon',
    'resid_dropout',
    'embed_dropout',
    'attention_dropout',
    'initializer_range',
    'bos_token_id',
    'eos_token_id',
    'tie_word_embeddings',
  ] as const;
  for (const key of keys) {
    const isDefault = key in DEFAULTS && config[key] === DEFAULTS[key as keyof typeof DEFAULTS];
    if (key in config.raw || !isDefault) json[key] = config[key];
  }

  const implicitWidth = (config.raw.intermediate_size ?? null) === null && config.intermediate_size === 4 * config.hidden_size;
  json.intermediate_size = implicitWidth ? null : config.intermediate_size;
  return json;
}

/**
 * Expands `attention_types` into one attention kind per block, as `GPTNeoConfig.expand_attention_types_params`
 * does: `[[["global", "local"], 2]]` becomes `["global", "local", "global", "local"]`.
 */
export function expandAttentionTypes(spec: AttentionTypesSpec): AttentionType[] {
  const layers: AttentionType[] = [];
  for (const [pattern, repeat] of spec) {
    for (let i = 0; i < repeat; i++) layers.push(...pattern);
  }
  return layers;
}

function parseAttentionTypes(raw: Record<string, unknown>, fail: (problem: string) => never): AttentionTypesSpec {
  const value = raw.attention_types;

  // Some hand-written configs give only the expanded list; treat it as one pattern repeated once.
  if (value === undefined || value === null) {
    if (Array.isArray(raw.attention_layers)) {
      return [[raw.attention_layers.map((kind) => attentionType(kind, 'attention_layers', fail)), 1]];
    }
    return fail('required key "attention_types" is missing (for example [[["global", "local"], 6]])');
  }

  const invalid = () => fail(`attention_types ${JSON.stringify(value)} is invalid; expected a list like [[["global", "local"], 6]]`);
  if (!Array.isArray(value) || value.length === 0) return invalid();
  return value.map((item) => {
    if (!Array.isArray(item) || item.length !== 2 || !Array.isArray(item[0]) || item[0].length === 0) return invalid();
    if (!Number.isInteger(item[1]) || item[1] < 1) return invalid();
    return [item[0].map((kind: unknown) => attentionType(kind, 'attention_types', fail)), item[1]];
  });
}

function attentionType(kind: unknown, key: string, fail: (problem: string) => never): AttentionType {
  if (kind !== 'global' && kind !== 'local') fail(`${key} contains "${String(kind)}"; only "global" and "local" exist`);
  return kind as AttentionType;
}

function positiveInteger(value: unknown, key: string, fail: (problem: string) => never): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    fail(`${key} must be a positive integer, got ${JSON.stringify(value)}`);
  }
  return value as number;
}

function tokenId(value: unknown, key: string, fail: (problem: string) => never): number | null {
  if (value === null) return null;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    fail(`${key} must be a non-negative integer, got ${JSON.stringify(value)}`);
  }
  return value as number;
}

function nonNegativeNumber(value: unknown, key: string, fail: (problem: string) => never): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    fail(`${key} must be a non-negative number, got ${JSON.stringify(value)}`);
  }
  return value as number;
}

function probability(value: unknown, key: string, fail: (problem: string) => never): number {
  if (typeof value !== 'number' || !(value >= 0 && value < 1)) {
    fail(`${key} must be a probability in [0, 1), got ${JSON.stringify(value)}`);
  }
  return value as number;
}
