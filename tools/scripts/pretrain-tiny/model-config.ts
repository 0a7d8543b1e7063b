/**
 * The `config.json` of the built-in tiny GPT-Neo, with the keys and key order that
 * `GPTNeoConfig.save_pretrained` of transformers 4.36.2 writes, so the folder loads in
 * `transformers` as it does here.
 */

/** Architecture sizes of a tiny GPT-Neo. {@link tinyGPTNeoConfig} fixes the other keys. */
export interface TinyModelShape {
  hidden_size: number;
  num_layers: number;
  num_heads: number;
  intermediate_size: number;
  /** Tokens a local-attention layer looks back over (`window_size`). */
  window_size: number;
  max_position_embeddings: number;
}

/** Ids of the built-in tokenizer: GPT-2's first 8,191 tokens plus `<|endoftext|>` as id 8191. */
export const TINY_VOCAB_SIZE = 8192;
export const END_OF_TEXT_ID = 8191;

/**
 * The shape that the shipped model uses: alternating global and local layers, a 64-token local
 * window inside the 128-token training blocks, and 256 positions for downstream inputs.
 */
export const DEFAULT_SHAPE: TinyModelShape = {
  hidden_size: 128,
  num_layers: 4,
  num_heads: 4,
  intermediate_size: 512,
  window_size: 64,
  max_position_embeddings: 256,
};

/**
 * Returns the Hugging Face `config.json` object for a tiny GPT-Neo of `shape`. Layers alternate
 * global and local attention, so `num_layers` must be even. Dropout is 0, as in EleutherAI's
 * GPT-Neo releases.
 */
export function tinyGPTNeoConfig(shape: TinyModelShape): Record<string, unknown> {
  const pairs = shape.num_layers / 2;
  return {
    activation_function: 'gelu_new',
    architectures: ['GPTNeoForCausalLM'],
    attention_dropout: 0.0,
    attention_layers: Array.from({ length: shape.num_layers }, (_, i) => (i % 2 === 0 ? 'global' : 'local')),
    attention_types: [[['global', 'local'], pairs]],
    bos_token_id: END_OF_TEXT_ID,
    classifier_dropout: 0.1,
    embed_dropout: 0.0,
    eos_token_id: END_OF_TEXT_ID,
    hidden_size: shape.hidden_size,
    initializer_range: 0.02,
    intermediate_size: shape.intermediate_size,
    layer_norm_epsilon: 1e-5,
    max_position_embeddings: shape.max_position_embeddings,
    model_type: 'gpt_neo',
    num_heads: shape.num_heads,
    num_layers: shape.num_layers,
    resid_dropout: 0.0,
    torch_dtype: 'float32',
    transformers_version: '4.36.2',
    use_cache: true,
    vocab_size: TINY_VOCAB_SIZE,
    window_size: shape.window_size,
  };
}

/** Returns the `generation_config.json` that `save_pretrained` writes next to a causal language model. */
export function tinyGenerationConfig(): Record<string, unknown> {
  return {
    _from_model_config: true,
    bos_token_id: END_OF_TEXT_ID,
    eos_token_id: END_OF_TEXT_ID,
    transformers_version: '4.36.2',
  };
}
