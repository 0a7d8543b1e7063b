/**
 * The T5 configuration as Hugging Face `transformers` writes it in `config.json` (`T5Config`),
 * with the same key names and the same defaults for keys a file omits.
 */
import * as fs from 'fs';
import * as path from 'path';

import { CheckpointError } from '@modularevo/core-tensor';

/** Feed-forward activations this package computes, by their `transformers` `ACT2FN` names. */
export const T5_ACTIVATIONS = ['relu', 'gelu', 'gelu_new', 'gelu_pytorch_tanh', 'silu', 'swish'] as const;

/** An activation name from {@link T5_ACTIVATIONS}. */
export type T5Activation = (typeof T5_ACTIVATIONS)[number];

/** A validated T5 configuration. Field names and meanings are those of `transformers.T5Config`. */
export interface T5Config {
  model_type: 't5';
  vocab_size: number;
  /** Hidden size of every block. */
  d_model: number;
  /** Size of one attention head; `num_heads * d_kv` need not equal `d_model`. */
  d_kv: number;
  /** Inner size of the feed-forward layers. */
  d_ff: number;
  /** Encoder blocks. */
  num_layers: number;
  /** Decoder blocks (defaults to `num_layers`). */
  num_decoder_layers: number;
  num_heads: number;
  relative_attention_num_buckets: number;
  /** Relative distance (in tokens) beyond which all distances share the last bucket. */
  relative_attention_max_distance: number;
  dropout_rate: number;
  layer_norm_epsilon: number;
  /** Scale of the standard deviations of random initialisation (1.0 in every released checkpoint). */
  initializer_factor: number;
  /** `relu`, `gated-gelu`, or `[gated-]<activation>`. */
  feed_forward_proj: string;
  /** Activation derived from `feed_forward_proj`, as `T5Config` derives it. */
  dense_act_fn: T5Activation;
  /** Whether the feed-forward layer is gated (`wi_0`, `wi_1`) instead of plain (`wi`). */
  is_gated_act: boolean;
  /** Whether `lm_head.weight` is `shared.weight` (true unless the file sets false). */
  tie_word_embeddings: boolean;
  pad_token_id: number;
  /** One id, or several ids that all end a sequence. */
  eos_token_id: number | number[];
  /** First decoder input token; `transformers` needs it for `shift_right` and generation. */
  decoder_start_token_id?: number;
  bos_token_id?: number;
}

/** Defaults of `transformers.T5Config.__init__` (4.36.2) for keys a `config.json` may omit. */
const DEFAULTS = {
  vocab_size: 32128,
  d_model: 512,
  d_kv: 64,
  d_ff: 2048,
  num_layers: 6,
  num_heads: 8,
  relative_attention_num_buckets: 32,
  relative_attention_max_distance: 128,
  dropout_rate: 0.1,
  layer_norm_epsilon: 1e-6,
  initializer_factor: 1.0,
  feed_forward_proj: 'relu',
  tie_word_embeddings: true,
  pad_token_id: 0,
  eos_token_id: 1,
};

/**
 * Validates a parsed `config.json` object and fills in the `T5Config` defaults.
 *
 * @param raw - the parsed JSON object
 * @param file - the file it came from, for messages
 * @throws CheckpointError naming the file and the invalid key when a value is missing, of the
 *   wrong type or out of range, when `model_type` is not `t5`, or when `feed_forward_proj` names
 *   an unsupported activation
 */
export function parseT5Config(raw: unknown, file: string): T5Config {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new CheckpointError(file, 'config is not a JSON object');
  }
  const json = raw as Record<string, unknown>;
  if (json.model_type !== 't5') {
    throw new CheckpointError(
      file,
      `model_type is ${JSON.stringify(json.model_type)} but this package reads T5 models ("t5")`,
      'Load this folder with the package of its architecture',
    );
  }

  // sizes
  const read = new ConfigReader(json, file);
  const num_layers = read.positiveInteger('num_layers', DEFAULTS.num_layers);
  const sizes = {
    vocab_size: read.positiveInteger('vocab_size', DEFAULTS.vocab_size),
    d_model: read.positiveInteger('d_model', DEFAULTS.d_model),
    d_kv: read.positiveInteger('d_kv', DEFAULTS.d_kv),
    d_ff: read.positiveInteger('d_ff', DEFAULTS.d_ff),
    num_layers,
    num_decoder_layers: read.positiveInteger('num_decoder_layers', num_layers),
    num_heads: read.positiveInteger('num_heads', DEFAULTS.num_heads),
    relative_attention_num_buckets: read.positiveInteger(
      'relative_attention_num_buckets',
      DEFAULTS.relative_attention_num_buckets,
    ),
    relative_attention_max_distance: read.positiveInteger(
      'relative_attention_max_distance',
      DEFAULTS.relative_attention_max_distance,
    ),
  };
  if (sizes.relative_attention_num_buckets < 4) {
    // Bidirectional buckets split in halves and then in exact and logarithmic quarters.
    read.fail('relative_attention_num_buckets', 'must be at least 4');
  }

  // numerics
  const dropout_rate = read.number('dropout_rate', DEFAULTS.dropout_rate);
  if (dropout_rate < 0 || dropout_rate >= 1) read.fail('dropout_rate', 'must be in [0, 1)');
  const layer_norm_epsilon = read.number('layer_norm_epsilon', DEFAULTS.layer_norm_epsilon);
  if (!(layer_norm_epsilon > 0)) read.fail('layer_norm_epsilon', 'must be positive');
  const initializer_factor = read.number('initializer_factor', DEFAULTS.initializer_factor);

  // feed-forward activation, derived as T5Config derives it
  const feed_forward_proj = read.string('feed_forward_proj', DEFAULTS.feed_forward_proj);
  const { dense_act_fn, is_gated_act } = parseFeedForwardProj(feed_forward_proj, read);

  // token ids
  const eos_token_id = read.tokenIds('eos_token_id', DEFAULTS.eos_token_id, sizes.vocab_size);
  return {
    model_type: 't5',
    ...sizes,
    dropout_rate,
    layer_norm_epsilon,
    initializer_factor,
    feed_forward_proj,
    dense_act_fn,
    is_gated_act,
    tie_word_embeddings: read.boolean('tie_word_embeddings', DEFAULTS.tie_word_embeddings),
    pad_token_id: read.tokenId('pad_token_id', sizes.vocab_size) ?? DEFAULTS.pad_token_id,
    eos_token_id,
    decoder_start_token_id: read.tokenId('decoder_start_token_id', sizes.vocab_size),
    bos_token_id: read.tokenId('bos_token_id', sizes.vocab_size),
  };
}

/**
 * Reads and validates `<dir>/config.json`.
 *
 * @returns the validated config and the parsed JSON object, whose other keys
 *   {@link t5ConfigToJson} writes back unchanged
 * @throws CheckpointError when the file is missing, is not JSON, or is not a valid T5 config
 */
export function loadT5Config(dir: string): { config: T5Config; json: Record<string, unknown> } {
  const file = path.join(dir, 'config.json');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new CheckpointError(file, `cannot read config (${(error as Error).message})`, 'Point at a Hugging Face model folder');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new CheckpointError(file, `config is not valid JSON (${(error as Error).message})`);
  }
  return { config: parseT5Config(json, file), json: json as Record<string, unknown> };
}

/**
 * Builds the `config.json` object for a model: every key of `original` (when the model was
 * loaded from a folder), overwritten by the validated fields, so `transformers` reads back the
 * same configuration.
 */
export function t5ConfigToJson(config: T5Config, original: Record<string, unknown> = {}): Record<string, unknown> {
  const json: Record<string, unknown> = { architectures: ['T5ForConditionalGeneration'], ...original };
  for (const [key, value] of Object.entries(config)) {
    if (value !== undefined) json[key] = value;
  }
  return json;
}

/** Splits `feed_forward_proj` (`relu`, `gated-gelu`, `gated-silu`, ...) as `T5Config` does. */
function parseFeedForwardProj(value: string, read: ConfigReader): { dense_act_fn: T5Activation; is_gated_act: boolean } {
  const parts = value.split('-');
  const is_gated_act = parts[0] === 'gated';
  if ((parts.length > 1 && !is_gated_act) || parts.length > 2) {
    read.fail('feed_forward_proj', `"${value}" is not of the form "<activation>" or "gated-<activation>"`);
  }

  // transformers keeps "gated-gelu" meaning the tanh approximation for older checkpoints
  const activation = value === 'gated-gelu' ? 'gelu_new' : parts[parts.length - 1];
  if (!(T5_ACTIVATIONS as readonly string[]).includes(activation)) {
    read.fail('feed_forward_proj', `activation "${activation}" is not supported; use one of ${T5_ACTIVATIONS.join(', ')}`);
  }
  return { dense_act_fn: activation as T5Activation, is_gated_act };
}

/** Typed access to config keys that throws a CheckpointError naming the file and the key. */
class ConfigReader {
  constructor(
    private readonly json: Record<string, unknown>,
    private readonly file: string,
  ) {}

  fail(key: string, problem: string): never {
    throw new CheckpointError(this.file, `"${key}" ${problem}`, 'Fix config.json');
  }

  number(key: string, fallback: number): number {
    const value = this.json[key] ?? fallback;
    if (typeof value !== 'number' || !Number.isFinite(value)) this.fail(key, `must be a finite number, not ${JSON.stringify(value)}`);
    return value;
  }

  positiveInteger(key: string, fallback: number): number {
    const value = this.number(key, fallback);
    if (!Number.isSafeInteger(value) || value < 1) this.fail(key, `must be a positive integer, not ${value}`);
    return value;
  }

  string(key: string, fallback: string): string {
    const value = this.json[key] ?? fallback;
    if (typeof value !== 'string') this.fail(key, `must be a string, not ${JSON.stringify(value)}`);
    return value;
  }

  boolean(key: string, fallback: boolean): boolean {
    const value = this.json[key] ?? fallback;
    if (typeof value !== 'boolean') this.fail(key, `must be true or false, not ${JSON.stringify(value)}`);
    return value;
  }

  /** Reads an optional token id; `null` in the file counts as absent, as in `transformers`. */
  tokenId(key: string, vocabSize: number): number | undefined {
    const value = this.json[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value >= vocabSize) {
      this.fail(key, `must be a token id in [0, ${vocabSize}), not ${JSON.stringify(value)}`);
    }
    return value;
  }

  tokenIds(key: string, fallback: number, vocabSize: number): number | number[] {
    const value = this.json[key] ?? fallback;
    const ids = Array.isArray(value) ? value : [value];
    const valid = (id: unknown) => typeof id === 'number' && Number.isSafeInteger(id) && id >= 0 && id < vocabSize;
    if (ids.length === 0 || !ids.every(valid)) {
      this.fail(key, `must be a token id in [0, ${vocabSize}) or a non-empty list of them, not ${JSON.stringify(value)}`);
    }
    return value as number | number[];
  }
}
