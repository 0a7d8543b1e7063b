/**
 * GPT-Neo (`GPTNeoForCausalLM` of Hugging Face `transformers`) on TensorFlow.js: token and
 * position embeddings, pre-LayerNorm blocks alternating global and local (sliding-window) causal
 * self-attention, a final LayerNorm and a language-modelling head tied to the token embeddings.
 * Every linear layer runs through a {@link LinearFn}, so masks and sparse kernels plug in.
 */
import * as tf from '@tensorflow/tfjs-core';

import {
  dropout,
  getLogger,
  InvalidInputError,
  openCheckpoint,
  type ForwardOptions,
  type LinearFn,
  type LinearLayer,
  type StateDict,
} from '@modularevo/core-tensor';
import { loadTokenizer, type Tokenizer } from '@modularevo/datasets';
import type { PretrainedModel } from '@modularevo/masking';

import { activation } from './activations';
import { attentionBias } from './attention-mask';
import { gptNeoConfigToJson, loadGPTNeoConfig, type AttentionType, type GPTNeoConfig } from './config';
import { checkTokenizerVocabulary, saveModelFolder } from './folder';
import { checkInputs, type GPTNeoInputs } from './inputs';
import { denseLinear, embedding, lowMemoryLayerNorm, maskedSoftmax } from './ops';
import { assignGPTNeoParameters, initGPTNeoParameters, loadGPTNeoParameters, TIED_WEIGHTS, toStateDict } from './weights';

const log = getLogger('gptneo');

/** Name of the GPT-Neo architecture, as `--arch` takes it. */
export const GPTNEO_ARCHITECTURE = 'gptneo';

/** Options of a GPT-Neo forward pass. */
export interface GPTNeoForwardOptions extends ForwardOptions {
  /** Also return the hidden states after the embeddings and after every block. */
  outputHiddenStates?: boolean;
}

/** Output of the transformer body. */
export interface GPTNeoModelOutput {
  /** Output of the final LayerNorm `ln_f`, `[batch, seq, hidden]`. */
  lastHiddenState: tf.Tensor3D;
  /**
   * As `transformers` returns them: the embeddings, the output of blocks 0 .. n-2, then the output
   * of `ln_f` (num_layers + 1 entries), each `[batch, seq, hidden]`.
   */
  hiddenStates?: tf.Tensor3D[];
}

/** Output of the causal language model. */
export interface GPTNeoCausalLMOutput extends GPTNeoModelOutput {
  /** Next-token logits `[batch, seq, vocab]`. */
  logits: tf.Tensor3D;
}

/** State one forward pass threads through its components. */
interface Pass {
  linear: LinearFn;
  training: boolean;
  /** Seed of the first dropout site; later sites count up from it. */
  seed: number;
  dropoutSites: number;
}

/**
 * GPT-Neo causal language model with parameters keyed by Hugging Face name. It is the
 * `PretrainedModel` the generic machinery (modularizer, fine-tuner, merger, cost) works on.
 */
export class GPTNeoForCausalLM implements PretrainedModel {
  readonly architecture = GPTNEO_ARCHITECTURE;
  private readonly layers: Map<string, LinearLayer>;
  private loadedTokenizer: Tokenizer | undefined;

  /**
   * @param config - a validated configuration
   * @param params - every parameter of {@link gptNeoParameterShapes}; a tied `lm_head.weight` is not stored
   * @param sourceDir - folder the model was loaded from, whose tokenizer files `save` copies
   */
  constructor(
    readonly config: GPTNeoConfig,
    readonly params: Map<string, tf.Variable>,
    readonly sourceDir?: string,
  ) {
    this.layers = new Map(buildLinearLayers(config).map((layer) => [layer.name, layer]));
  }

  /**
   * Loads `config.json` and the weights of a Hugging Face model folder, and checks that its
   * tokenizer (if any) fits the vocabulary. Start a backend (`initBackend`) first.
   *
   * @throws CheckpointError for a missing or invalid config or weight file, MismatchError when
   *   the tokenizer produces ids the model has no embedding for.
   */
  static fromPretrained(dir: string): GPTNeoForCausalLM {
    const config = loadGPTNeoConfig(dir);
    checkTokenizerVocabulary(dir, config.vocab_size);
    const reader = openCheckpoint(dir);
    try {
      const { params, unusedKeys } = loadGPTNeoParameters(reader, config);
      if (unusedKeys.length > 0) {
        log.warn(`${reader.path}: ignored ${unusedKeys.length} tensors that are not GPT-Neo parameters: ${unusedKeys.join(', ')}`);
      }
      return new GPTNeoForCausalLM(config, params, dir);
    } finally {
      reader.close();
    }
  }

  /** Creates a model with freshly initialised weights (see {@link initGPTNeoParameters}). */
  static fromConfig(config: GPTNeoConfig, uniform: () => number): GPTNeoForCausalLM {
    return new GPTNeoForCausalLM(config, initGPTNeoParameters(config, uniform));
  }

  /** The configuration as `config.json` stores it (see {@link gptNeoConfigToJson}). */
  get configJson(): Record<string, unknown> {
    return gptNeoConfigToJson(this.config);
  }

  /**
   * Returns the tokenizer of the folder the model was loaded from, loading it the first time.
   * It pads with the EOS id, as GPT-Neo fine-tuning sets `pad_token = eos_token`.
   *
   * @throws InvalidInputError when the model was not loaded from a folder
   * @throws CheckpointError when the folder has no tokenizer files
   */
  tokenizer(): Tokenizer {
    if (!this.loadedTokenizer) {
      if (!this.sourceDir) {
        throw new InvalidInputError('This GPT-Neo model was not loaded from a folder, so it has no tokenizer; load it with GPTNeoForCausalLM.fromPretrained(dir)');
      }
      this.loadedTokenizer = loadTokenizer(this.sourceDir, { padWithEos: true });
    }
    return this.loadedTokenizer;
  }

  /** Returns the parameter `name`, following tied names (`lm_head.weight` is `transformer.wte.weight`). */
  parameter(name: string): tf.Variable {
    const variable = this.params.get(name) ?? this.params.get(TIED_WEIGHTS[name] ?? '');
    if (!variable) throw new InvalidInputError(`GPT-Neo has no parameter "${name}"; see gptNeoParameterShapes for the names`);
    return variable;
  }

  /**
   * Lists every linear layer with its Hugging Face weight and bias names: q/k/v/out projections
   * and `c_fc`, `c_proj` of each block, then `lm_head` (its weight is the tied `transformer.wte.weight`
   * unless `tie_word_embeddings` is false; masking it masks only the output projection).
   */
  linearLayers(): LinearLayer[] {
    return [...this.layers.values()];
  }

  /** Runs the transformer body up to and including `ln_f`. */
  transformer(inputs: GPTNeoInputs, options: GPTNeoForwardOptions = {}): GPTNeoModelOutput {
    const { config } = this;
    const checked = checkInputs(inputs, config.vocab_size, config.max_position_embeddings);
    const pass: Pass = {
      linear: options.linear ?? denseLinear,
      training: options.training ?? false,
      seed: options.seed ?? Math.floor(Math.random() * 2 ** 31),
      dropoutSites: 0,
    };

    // one additive attention bias per attention type, shared by the blocks of that type
    const biases = new Map<AttentionType, tf.Tensor4D>();
    for (const kind of new Set(config.attention_layers)) {
      biases.set(kind, attentionBias(kind, checked.attentionMask, checked.batch, checked.seq, config.window_size));
    }

    // token and position embeddings
    const tokens = embedding(this.parameter('transformer.wte.weight'), checked.inputIds); // [batch, seq, hidden]
    const positions = embedding(this.parameter('transformer.wpe.weight'), checked.positionIds); // [batch, seq, hidden]
    let hidden = this.dropout(pass, tf.add(tokens, positions), config.embed_dropout) as tf.Tensor3D;

    // blocks, each in its own tidy so that only what backpropagation saved outlives the block
    const hiddenStates: tf.Tensor3D[] = [];
    config.attention_layers.forEach((kind, i) => {
      if (options.outputHiddenStates) hiddenStates.push(hidden);
      const input = hidden;
      hidden = tf.tidy(() => this.block(pass, i, input, biases.get(kind)!));
    });

    // final layer norm
    const lastHiddenState = this.layerNorm('transformer.ln_f', hidden) as tf.Tensor3D;
    if (options.outputHiddenStates) hiddenStates.push(lastHiddenState);
    return { lastHiddenState, hiddenStates: options.outputHiddenStates ? hiddenStates : undefined };
  }

  /** Projects hidden states `[..., hidden]` to vocabulary logits `[..., vocab]` with `lm_head`. */
  lmHead(hidden: tf.Tensor, options: ForwardOptions = {}): tf.Tensor {
    const linear = options.linear ?? denseLinear;
    return linear(this.layers.get('lm_head')!, hidden, this.parameter('lm_head.weight') as tf.Tensor2D, undefined);
  }

  /**
   * Runs the full causal language model. Wrap the call in `tf.tidy` (or dispose the outputs):
   * the returned tensors belong to the caller.
   *
   * @throws InvalidInputError for ids, masks or positions that do not fit the model.
   */
  forward(inputs: GPTNeoInputs, options: GPTNeoForwardOptions = {}): GPTNeoCausalLMOutput {
    const body = this.transformer(inputs, options);
    const logits = this.lmHead(body.lastHiddenState, options) as tf.Tensor3D; // [batch, seq, vocab]
    return { ...body, logits };
  }

  /** Copies the parameters into a state dict with Hugging Face names (without the tied `lm_head.weight`). */
  stateDict(): StateDict {
    return toStateDict(this.params);
  }

  /**
   * Overwrites parameters from `state` (Hugging Face names; a tied `lm_head.weight` sets the
   * token embedding). Names absent from `state` keep their values.
   *
   * @throws MismatchError naming the tensor for an unknown name, another shape or a non-float dtype
   */
  assign(state: StateDict): void {
    assignGPTNeoParameters(this.params, state);
  }

  /** Writes a Hugging Face model folder atomically; see {@link savePretrained}. */
  async save(dir: string, options: { overwrite?: boolean } = {}): Promise<void> {
    await this.savePretrained(dir, options);
  }

  /**
   * Saves a Hugging Face model folder as `save_pretrained` does: `config.json`, `model.safetensors`
   * (without the tied `lm_head.weight`) and the tokenizer files of `tokenizerFrom`, by default the
   * folder the model was loaded from.
   *
   * @throws InvalidInputError when `dir` exists and is not empty, unless `overwrite` is set.
   */
  async savePretrained(dir: string, options: { tokenizerFrom?: string; overwrite?: boolean } = {}): Promise<void> {
    await saveModelFolder(dir, {
      config: gptNeoConfigToJson(this.config),
      state: this.stateDict(),
      tokenizerFrom: options.tokenizerFrom ?? this.sourceDir,
      overwrite: options.overwrite,
    });
    log.info(`saved GPT-Neo to ${dir}`);
  }

  /** Releases the parameter tensors. */
  dispose(): void {
    for (const variable of this.params.values()) variable.dispose();
  }

  // One pre-LayerNorm residual block: x + attn(ln_1(x)), then x + mlp(ln_2(x)).
  private block(pass: Pass, index: number, x: tf.Tensor3D, bias: tf.Tensor4D): tf.Tensor3D {
    const prefix = `transformer.h.${index}`;
    const attended = tf.add(x, this.selfAttention(pass, prefix, this.layerNorm(`${prefix}.ln_1`, x), bias));
    return tf.add(attended, this.mlp(pass, prefix, this.layerNorm(`${prefix}.ln_2`, attended))) as tf.Tensor3D;
  }

  // Causal self-attention. GPT-Neo does not scale the scores by 1/sqrt(head_dim).
  private selfAttention(pass: Pass, prefix: string, x: tf.Tensor, bias: tf.Tensor4D): tf.Tensor {
    const { num_heads: heads, hidden_size: hidden } = this.config;
    const [batch, seq] = x.shape;
    const headDim = hidden / heads;
    const attention = `${prefix}.attn.attention`;

    // project and split heads
    const splitHeads = (t: tf.Tensor) =>
      tf.transpose(tf.reshape(t, [batch, seq, heads, headDim]), [0, 2, 1, 3]); // [batch, heads, seq, head_dim]
    const query = splitHeads(this.linear(pass, `${attention}.q_proj`, x));
    const key = splitHeads(this.linear(pass, `${attention}.k_proj`, x));
    const value = splitHeads(this.linear(pass, `${attention}.v_proj`, x));

    // masked attention weights
    const scores = tf.matMul(query, key, false, true); // [batch, heads, seq, head_dim] @ [.., head_dim, seq] -> [batch, heads, seq, seq]
    let weights = maskedSoftmax(scores, bias); // bias [batch, 1, seq, seq] broadcasts over heads
    weights = this.dropout(pass, weights, this.config.attention_dropout);

    // mix values and merge heads
    const mixed = tf.matMul(weights, value); // [batch, heads, seq, seq] @ [batch, heads, seq, head_dim] -> [batch, heads, seq, head_dim]
    const merged = tf.reshape(tf.transpose(mixed, [0, 2, 1, 3]), [batch, seq, hidden]); // [batch, seq, hidden]
    return this.dropout(pass, this.linear(pass, `${attention}.out_proj`, merged), this.config.resid_dropout);
  }

  // Feed-forward: c_proj(act(c_fc(x))).
  private mlp(pass: Pass, prefix: string, x: tf.Tensor): tf.Tensor {
    const inner = activation(this.config.activation_function, this.linear(pass, `${prefix}.mlp.c_fc`, x)); // [batch, seq, intermediate]
    return this.dropout(pass, this.linear(pass, `${prefix}.mlp.c_proj`, inner), this.config.resid_dropout); // [batch, seq, hidden]
  }

  private linear(pass: Pass, name: string, x: tf.Tensor): tf.Tensor {
    const layer = this.layers.get(name)!;
    const bias = layer.bias ? (this.parameter(layer.bias) as tf.Tensor1D) : undefined;
    return pass.linear(layer, x, this.parameter(layer.weight) as tf.Tensor2D, bias);
  }

  private layerNorm(prefix: string, x: tf.Tensor): tf.Tensor {
    const weight = this.parameter(`${prefix}.weight`) as tf.Tensor1D;
    const bias = this.parameter(`${prefix}.bias`) as tf.Tensor1D;
    return lowMemoryLayerNorm(x, weight, bias, this.config.layer_norm_epsilon);
  }

  // Dropout only in training; each call site gets its own seed so a seeded step replays exactly.
  private dropout(pass: Pass, x: tf.Tensor, rate: number): tf.Tensor {
    if (!pass.training || rate === 0) return x;
    const site = pass.dropoutSites++;
    return dropout(x, rate, pass.seed + site);
  }
}

/** Lists the linear layers of a GPT-Neo with this configuration, in module order. */
export function buildLinearLayers(config: GPTNeoConfig): LinearLayer[] {
  const { hidden_size: hidden, intermediate_size: inner } = config;
  const layers: LinearLayer[] = [];
  const add = (name: string, inFeatures: number, outFeatures: number, hasBias: boolean) =>
    layers.push({ name, weight: `${name}.weight`, bias: hasBias ? `${name}.bias` : undefined, inFeatures, outFeatures });

  for (let i = 0; i < config.num_layers; i++) {
    const attention = `transformer.h.${i}.attn.attention`;
    add(`${attention}.k_proj`, hidden, hidden, false);
    add(`${attention}.v_proj`, hidden, hidden, false);
    add(`${attention}.q_proj`, hidden, hidden, false);
    add(`${attention}.out_proj`, hidden, hidden, true);
    add(`transformer.h.${i}.mlp.c_fc`, hidden, inner, true);
    add(`transformer.h.${i}.mlp.c_proj`, inner, hidden, true);
  }
  add('lm_head', hidden, config.vocab_size, false);
  return layers;
}
