/**
 * RoBERTa (`RobertaModel` and `RobertaForMaskedLM` of Hugging Face `transformers`, the
 * architecture of CodeBERT) on TensorFlow.js: word, position and token-type embeddings, post-LN
 * encoder blocks with bidirectional self-attention, the pooler, and the masked-LM head when the
 * checkpoint has one. Every linear layer runs through a {@link LinearFn}, so masks and sparse
 * kernels plug in.
 */
import * as path from 'path';

import * as tf from '@tensorflow/tfjs-core';

import {
  copyModelMetadata,
  dropout,
  embedding,
  formatShape,
  gelu,
  geluNew,
  getLogger,
  layerNorm,
  linear,
  maskedSoftmax,
  MismatchError,
  openCheckpoint,
  paddingMask,
  Rng,
  sameShape,
  saveSafetensors,
  toFloat32,
  writeFolderAtomic,
  writeJsonAtomic,
  type ForwardOptions,
  type LinearFn,
  type LinearLayer,
  type StateDict,
} from '@modularevo/core-tensor';
import type { PretrainedModel } from '@modularevo/masking';

import { loadRobertaConfig, type RobertaConfig } from './config';
import { checkInputs, type RobertaInputs } from './inputs';
import {
  initRobertaParameters,
  loadRobertaParameters,
  ROBERTA_MASKED_LM_LAYOUT,
  RobertaNames,
  toStateDict,
  type RobertaLayout,
} from './weights';

const log = getLogger('codebert');

/** Options of a RoBERTa forward pass. */
export interface RobertaForwardOptions extends ForwardOptions {
  /** Also return the embedding output and the output of every block. */
  outputHiddenStates?: boolean;
}

/** Output of the encoder. */
export interface RobertaEncoderOutput {
  /** Output of the last block, `[batch, seq, hidden]`. */
  lastHiddenState: tf.Tensor3D;
  /** The embedding output, then the output of each block (num_hidden_layers + 1 entries), as `transformers` returns them. */
  hiddenStates?: tf.Tensor3D[];
}

/** Origin of a model: its folder and whether its pooler was initialised on load. */
export interface CodeBertModelOptions {
  /** Folder the model was loaded from; `save` copies its tokenizer files. */
  sourceDir?: string;
  /** The checkpoint had no pooler and the pooler was initialised on load. */
  freshPooler?: boolean;
}

/** Options of {@link CodeBertModel.fromPretrained}. */
export interface CodeBertLoadOptions {
  /** Checkpoint keys that belong elsewhere (task heads) and are skipped without a warning. */
  ignore?: RegExp;
  /**
   * Treat the pooler as initialised rather than pretrained even when the checkpoint has one, as
   * a task model whose base had no pooler records it.
   */
  freshPooler?: boolean;
}

/** State one forward pass threads through its components. */
interface Pass {
  linear: LinearFn;
  training: boolean;
  /** Seed of the first dropout site; later sites count up from it. */
  seed: number;
  dropoutSites: number;
}

/** Computes a linear layer with core-tensor's dense `linear`; the default {@link LinearFn}. */
export const denseLinear: LinearFn = (_layer, x, weight, bias) => linear(x, weight, bias);

/** A RoBERTa model with parameters keyed by the Hugging Face names of the layout it was loaded from. */
export class CodeBertModel implements PretrainedModel {
  readonly architecture = 'codebert';
  readonly names: RobertaNames;
  readonly sourceDir?: string;
  /** Whether the pooler was initialised on load because the checkpoint had none. */
  readonly freshPooler: boolean;
  private readonly layers: Map<string, LinearLayer>;
  private readonly tied: Record<string, string>;

  /**
   * @param config - a validated configuration
   * @param params - every parameter of `robertaParameterShapes(config, layout)`
   * @param layout - the naming of the checkpoint, kept for saving
   */
  constructor(
    readonly config: RobertaConfig,
    readonly params: Map<string, tf.Variable>,
    readonly layout: RobertaLayout,
    options: CodeBertModelOptions = {},
  ) {
    this.names = new RobertaNames(layout);
    this.sourceDir = options.sourceDir;
    this.freshPooler = options.freshPooler ?? false;
    this.tied = this.names.tiedWeights(config);
    this.layers = new Map(buildLinearLayers(config, this.names, { pooler: true, lmHead: layout.lmHead }).map((layer) => [layer.name, layer]));
  }

  /**
   * Loads `config.json` and the weights of a Hugging Face model folder in either layout
   * (`RobertaModel` or `RobertaForMaskedLM`). A checkpoint without a pooler gets one initialised
   * from a fixed seed, with a warning, as `transformers` does. Start a backend (`initBackend`)
   * first.
   *
   * @throws CheckpointError for a missing or invalid config or weights file.
   */
  static fromPretrained(dir: string, options: CodeBertLoadOptions = {}): CodeBertModel {
    const config = loadRobertaConfig(dir);
    const reader = openCheckpoint(dir);
    try {
      const loaded = loadRobertaParameters(reader, config);
      const unused = loaded.unusedKeys.filter((key) => !options.ignore?.test(key));
      if (unused.length > 0) {
        log.warn(`${reader.path}: ignored ${unused.length} tensors that are not RoBERTa parameters: ${unused.join(', ')}`);
      }
      if (loaded.freshPooler) {
        log.warn(
          `${reader.path} has no pooler (a RobertaForMaskedLM checkpoint), so pooler.dense is initialised from a fixed seed, as transformers does. ` +
            'Code search trains it; load a RobertaModel checkpoint such as microsoft/codebert-base for a pretrained pooler',
        );
      }
      return new CodeBertModel(config, loaded.params, loaded.layout, { sourceDir: dir, freshPooler: loaded.freshPooler || options.freshPooler });
    } finally {
      reader.close();
    }
  }

  /** Creates a model with freshly initialised weights (see `initRobertaParameters`), by default with the masked-LM head. */
  static fromConfig(config: RobertaConfig, rng: Rng, layout: RobertaLayout = ROBERTA_MASKED_LM_LAYOUT): CodeBertModel {
    return new CodeBertModel(config, initRobertaParameters(config, layout, rng), layout);
  }

  get configJson(): Record<string, unknown> {
    return this.config.raw;
  }

  /** Whether the model has the masked-LM head `lm_head`, which modularization needs. */
  get hasLmHead(): boolean {
    return this.layout.lmHead;
  }

  /**
   * Returns the parameter `name`, following tied names (`lm_head.decoder.weight` is the word
   * embedding matrix, `lm_head.decoder.bias` is `lm_head.bias`).
   *
   * @throws MismatchError for a name the model does not have.
   */
  parameter(name: string): tf.Variable {
    const variable = this.params.get(name) ?? this.params.get(this.tied[name] ?? '');
    if (!variable) throw new MismatchError(`The RoBERTa model has no parameter "${name}" (its names start with "${this.layout.bodyPrefix}")`);
    return variable;
  }

  /**
   * Lists every linear layer with its Hugging Face weight and bias names, in module order. These
   * are query, key, value, attention output, intermediate and output dense of each block, the
   * pooler dense, then `lm_head.dense` and `lm_head.decoder` when the model has the masked-LM
   * head. A pooler that was initialised on load is left out, because it is not part of the
   * pretrained model and the masked-LM objective never uses it, so its mask would only shrink.
   */
  linearLayers(): LinearLayer[] {
    const pooler = this.names.body('pooler.dense');
    return [...this.layers.values()].filter((layer) => !(this.freshPooler && layer.name === pooler));
  }

  /**
   * Runs the embeddings and every encoder block. Wrap the call in `tf.tidy` (or dispose the
   * outputs): the returned tensors belong to the caller.
   *
   * @throws InvalidInputError for ids or masks that do not fit the model, or rows longer than its positions allow.
   */
  encode(inputs: RobertaInputs, options: RobertaForwardOptions = {}): RobertaEncoderOutput {
    const checked = checkInputs(inputs, this.config);
    const { batch, seq } = checked;
    const pass: Pass = {
      linear: options.linear ?? denseLinear,
      training: options.training ?? false,
      seed: options.seed ?? Math.floor(Math.random() * 2 ** 31),
      dropoutSites: 0,
    };
    const bias = paddingMask(tf.tensor2d(checked.attentionMask, [batch, seq], 'int32')); // [batch, 1, 1, seq]

    // embeddings: word + position + token type 0, then LayerNorm and dropout
    let hidden = tf.tidy(() => {
      const words = embedding(this.parameter(this.names.wordEmbeddings), tf.tensor2d(checked.inputIds, [batch, seq], 'int32')); // [batch, seq, hidden]
      const positions = embedding(
        this.parameter(this.names.body('embeddings.position_embeddings.weight')),
        tf.tensor2d(checked.positionIds, [batch, seq], 'int32'),
      ); // [batch, seq, hidden]
      const tokenType = tf.slice(this.parameter(this.names.body('embeddings.token_type_embeddings.weight')), [0, 0], [1, this.config.hidden_size]); // [1, hidden]
      const summed = tf.add(tf.add(words, positions), tokenType);
      return this.dropout(pass, this.layerNorm(this.names.body('embeddings.LayerNorm'), summed), this.config.hidden_dropout_prob) as tf.Tensor3D;
    });

    // blocks, each in its own tidy so that only what backpropagation saved outlives the block
    const hiddenStates: tf.Tensor3D[] = [];
    for (let i = 0; i < this.config.num_hidden_layers; i++) {
      if (options.outputHiddenStates) hiddenStates.push(hidden);
      const input = hidden;
      hidden = tf.tidy(() => this.block(pass, i, input, bias));
    }
    if (options.outputHiddenStates) hiddenStates.push(hidden);
    return { lastHiddenState: hidden, hiddenStates: options.outputHiddenStates ? hiddenStates : undefined };
  }

  /** Applies the pooler to the first token (`<s>`): `tanh(dense(h[:, 0]))`, `[batch, hidden]`. */
  pool(lastHiddenState: tf.Tensor3D, options: ForwardOptions = {}): tf.Tensor2D {
    const [batch, , hidden] = lastHiddenState.shape;
    const first = tf.reshape(tf.slice(lastHiddenState, [0, 0, 0], [batch, 1, hidden]), [batch, hidden]); // [batch, hidden]
    return tf.tanh(this.linear(options.linear ?? denseLinear, this.names.body('pooler.dense'), first)) as tf.Tensor2D;
  }

  /**
   * Applies the masked-LM head to hidden states `[..., hidden]` and returns vocabulary logits
   * `[..., vocab]`: dense, exact GELU, LayerNorm, then the decoder (tied to the word
   * embeddings) plus `lm_head.bias`.
   *
   * @throws MismatchError when the model has no `lm_head`.
   */
  lmHead(hidden: tf.Tensor, options: ForwardOptions = {}): tf.Tensor {
    if (!this.hasLmHead) {
      throw new MismatchError(`The model${this.sourceDir ? ` in ${this.sourceDir}` : ''} has no lm_head; load a RobertaForMaskedLM checkpoint such as microsoft/codebert-base-mlm`);
    }
    const fn = options.linear ?? denseLinear;
    const dense = gelu(this.linear(fn, this.names.head('dense'), hidden)); // [..., hidden]; RobertaLMHead always uses exact GELU
    const normalized = layerNorm(
      dense,
      this.parameter(this.names.head('layer_norm.weight')) as tf.Tensor1D,
      this.parameter(this.names.head('layer_norm.bias')) as tf.Tensor1D,
      this.config.layer_norm_eps,
    );
    return this.linear(fn, this.names.head('decoder'), normalized); // [..., vocab]
  }

  /** Copies the parameters out under Hugging Face names, tied tensors once. */
  stateDict(): StateDict {
    return toStateDict(this.params);
  }

  /**
   * Overwrites parameters from `state` (Hugging Face names, tied names accepted); names absent
   * from `state` keep their values. Nothing changes when any tensor fails the checks.
   *
   * @throws MismatchError naming the tensor for an unknown name or another shape.
   */
  assign(state: StateDict): void {
    for (const [name, tensor] of state) {
      const variable = this.parameter(name);
      if (!sameShape(variable.shape, tensor.shape)) {
        throw new MismatchError(`Tensor "${name}" has shape ${formatShape(tensor.shape)} but the model's parameter has ${formatShape(variable.shape)}`);
      }
    }
    for (const [name, tensor] of state) {
      const value = tf.tensor(toFloat32(tensor.dtype, tensor.data), tensor.shape, 'float32');
      this.parameter(name).assign(value);
      value.dispose();
    }
  }

  /**
   * Writes a Hugging Face model folder in the layout the model was loaded from: `config.json`,
   * `model.safetensors` (tied tensors once, as `save_pretrained` writes them) and the tokenizer
   * files of the source folder. The folder is built under a temporary name and renamed.
   *
   * @throws InvalidInputError when `dir` exists and is not empty, unless `overwrite` is set.
   */
  async save(dir: string, options: { overwrite?: boolean } = {}): Promise<void> {
    await writeFolderAtomic(
      dir,
      (temporary) => {
        if (this.sourceDir) copyModelMetadata(this.sourceDir, temporary);
        writeJsonAtomic(path.join(temporary, 'config.json'), this.config.raw);
        saveSafetensors(path.join(temporary, 'model.safetensors'), this.stateDict(), { format: 'pt' });
      },
      options,
    );
    log.info(`saved RoBERTa (${this.params.size} tensors) to ${dir}`);
  }

  /** Releases the parameter tensors. */
  dispose(): void {
    for (const variable of this.params.values()) variable.dispose();
  }

  // One post-LN block: h = LN(x + attention(x)), then LN(h + output(act(intermediate(h)))).
  private block(pass: Pass, index: number, x: tf.Tensor3D, bias: tf.Tensor4D): tf.Tensor3D {
    const prefix = this.names.layer(index);
    const attended = this.dropout(pass, this.linear(pass.linear, `${prefix}.attention.output.dense`, this.selfAttention(pass, prefix, x, bias)), this.config.hidden_dropout_prob);
    const h = this.layerNorm(`${prefix}.attention.output.LayerNorm`, tf.add(attended, x)); // [batch, seq, hidden]

    const inner = this.activation(this.linear(pass.linear, `${prefix}.intermediate.dense`, h)); // [batch, seq, intermediate]
    const output = this.dropout(pass, this.linear(pass.linear, `${prefix}.output.dense`, inner), this.config.hidden_dropout_prob); // [batch, seq, hidden]
    return this.layerNorm(`${prefix}.output.LayerNorm`, tf.add(output, h)) as tf.Tensor3D;
  }

  // Bidirectional self-attention with scores scaled by 1/sqrt(head_dim); returns the merged heads before the output dense.
  private selfAttention(pass: Pass, prefix: string, x: tf.Tensor3D, bias: tf.Tensor4D): tf.Tensor3D {
    const { num_attention_heads: heads, hidden_size: hidden } = this.config;
    const [batch, seq] = x.shape;
    const headDim = hidden / heads;

    // project and split heads
    const splitHeads = (t: tf.Tensor) => tf.transpose(tf.reshape(t, [batch, seq, heads, headDim]), [0, 2, 1, 3]); // [batch, heads, seq, head_dim]
    const query = splitHeads(this.linear(pass.linear, `${prefix}.attention.self.query`, x));
    const key = splitHeads(this.linear(pass.linear, `${prefix}.attention.self.key`, x));
    const value = splitHeads(this.linear(pass.linear, `${prefix}.attention.self.value`, x));

    // scaled scores, padding bias, softmax
    const scores = tf.div(tf.matMul(query, key, false, true), Math.sqrt(headDim)); // [batch, heads, seq, head_dim] @ [.., head_dim, seq] -> [batch, heads, seq, seq]
    const weights = this.dropout(pass, maskedSoftmax(scores, bias), this.config.attention_probs_dropout_prob); // bias [batch, 1, 1, seq] broadcasts

    // mix values and merge heads
    const mixed = tf.matMul(weights, value); // [batch, heads, seq, seq] @ [batch, heads, seq, head_dim] -> [batch, heads, seq, head_dim]
    return tf.reshape(tf.transpose(mixed, [0, 2, 1, 3]), [batch, seq, hidden]) as tf.Tensor3D; // [batch, seq, hidden]
  }

  private linear(fn: LinearFn, name: string, x: tf.Tensor): tf.Tensor {
    const layer = this.layers.get(name)!;
    const bias = layer.bias ? (this.parameter(layer.bias) as tf.Tensor1D) : undefined;
    return fn(layer, x, this.parameter(layer.weight) as tf.Tensor2D, bias);
  }

  private layerNorm(prefix: string, x: tf.Tensor): tf.Tensor {
    const weight = this.parameter(`${prefix}.weight`) as tf.Tensor1D;
    const bias = this.parameter(`${prefix}.bias`) as tf.Tensor1D;
    return layerNorm(x, weight, bias, this.config.layer_norm_eps);
  }

  private activation(x: tf.Tensor): tf.Tensor {
    switch (this.config.hidden_act) {
      case 'gelu':
        return gelu(x);
      case 'gelu_new':
      case 'gelu_pytorch_tanh':
        return geluNew(x);
      case 'relu':
        return tf.relu(x);
    }
  }

  // Dropout only in training; each call site gets its own seed so a seeded step replays exactly.
  private dropout(pass: Pass, x: tf.Tensor, rate: number): tf.Tensor {
    if (!pass.training || rate === 0) return x;
    const site = pass.dropoutSites++;
    return dropout(x, rate, pass.seed + site);
  }
}

/**
 * Lists the linear layers of a RoBERTa model with this configuration, in module order, under
 * the names of `names`. `lm_head.decoder` names its tied weight and bias as `transformers` does.
 */
export function buildLinearLayers(config: RobertaConfig, names: RobertaNames, parts: { pooler: boolean; lmHead: boolean }): LinearLayer[] {
  const { hidden_size: hidden, intermediate_size: inner } = config;
  const layers: LinearLayer[] = [];
  const add = (name: string, inFeatures: number, outFeatures: number) =>
    layers.push({ name, weight: `${name}.weight`, bias: `${name}.bias`, inFeatures, outFeatures });

  for (let i = 0; i < config.num_hidden_layers; i++) {
    const layer = names.layer(i);
    add(`${layer}.attention.self.query`, hidden, hidden);
    add(`${layer}.attention.self.key`, hidden, hidden);
    add(`${layer}.attention.self.value`, hidden, hidden);
    add(`${layer}.attention.output.dense`, hidden, hidden);
    add(`${layer}.intermediate.dense`, hidden, inner);
    add(`${layer}.output.dense`, inner, hidden);
  }
  if (parts.pooler) add(names.body('pooler.dense'), hidden, hidden);
  if (parts.lmHead) {
    add(names.head('dense'), hidden, hidden);
    add(names.head('decoder'), hidden, config.vocab_size);
  }
  return layers;
}
