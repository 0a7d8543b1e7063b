/**
 * `T5ForConditionalGeneration` on TensorFlow.js: a pre-norm encoder-decoder with relative
 * position buckets, RMS layer norms and (by default) an LM head tied to the input embedding.
 * Parameters keep their Hugging Face names, and every linear layer goes through a pluggable
 * {@link LinearFn} so masks and sparse kernels can replace the dense product.
 */
import * as tf from '@tensorflow/tfjs-core';

import {
  InvalidInputError,
  MismatchError,
  formatShape,
  paddingMask,
  rmsNorm,
  sameShape,
  toFloat32,
  type ForwardOptions,
  type LinearFn,
  type LinearLayer,
  type StateDict,
} from '@modularevo/core-tensor';

import { attend, causalMaskBias, mergeHeads, positionBias, relativePositionBuckets, splitHeads } from './attention';
import { loadT5Config, type T5Config } from './config';
import { checkAttentionMask, checkTokenIds } from './inputs';
import { Dropout, activation, denseLinear } from './layers';
import { IGNORE_INDEX, crossEntropyLoss } from './loss';
import { loadT5Weights, resolveT5ParameterName, saveT5Folder, t5ParameterSpecs } from './weights';

/** Projected keys and values of one attention layer, each `[batch, heads, keys, d_kv]`. */
export interface KeyValue {
  key: tf.Tensor4D;
  value: tf.Tensor4D;
}

/** Inputs of {@link T5ForConditionalGeneration.forward}; ids are int32 `[batch, seq]` tensors. */
export interface T5Inputs {
  inputIds: tf.Tensor2D;
  /** 1 for real source tokens, 0 for padding; all ones when absent. */
  attentionMask?: tf.Tensor2D;
  /** Decoder input; derived from `labels` by `shift_right` when absent. */
  decoderInputIds?: tf.Tensor2D;
  /** Target ids, -100 where no loss is wanted. */
  labels?: tf.Tensor2D;
}

/** Outputs of {@link T5ForConditionalGeneration.forward}. The caller disposes them. */
export interface T5Outputs {
  /** `[batch, target, vocab_size]` */
  logits: tf.Tensor3D;
  /** Mean cross-entropy over labels that are not -100, when labels were given. */
  loss?: tf.Scalar;
  /** `[batch, source, d_model]`, after the encoder's final layer norm. */
  encoderLastHiddenState: tf.Tensor3D;
  /** `[batch, target, d_model]`, after the decoder's final layer norm and before the tied-head rescale. */
  decoderLastHiddenState: tf.Tensor3D;
}

/**
 * Decoder state for step-by-step generation: the self-attention keys and values of the tokens
 * decoded so far and the cross-attention keys and values of the source, per decoder block.
 * Created by {@link T5ForConditionalGeneration.startDecoding}; release it with `disposeDecoding`.
 */
export interface DecoderState {
  /** Tokens decoded so far. */
  length: number;
  selfKeyValues: KeyValue[] | undefined;
  crossKeyValues: KeyValue[];
  /** `[batch, 1, 1, source]` padding mask of the source. */
  crossBias: tf.Tensor4D;
}

/** Linear function and dropout of one forward pass. */
interface Pass {
  linear: LinearFn;
  dropout: Dropout;
}

/** A T5 encoder-decoder with an LM head, parameters as `tf.Variable`s keyed by Hugging Face name. */
export class T5ForConditionalGeneration {
  private readonly layers: Map<string, LinearLayer>;

  /**
   * @param params - one variable per name of {@link t5ParameterSpecs} (aliases excluded); the
   *   model owns them and {@link dispose} releases them
   * @param configJson - the `config.json` object the config came from, kept when saving
   */
  constructor(
    readonly config: T5Config,
    readonly params: Map<string, tf.Variable>,
    readonly configJson: Record<string, unknown> = {},
  ) {
    this.layers = new Map(buildLinearLayers(config).map((layer) => [layer.name, layer]));
  }

  /**
   * Loads a Hugging Face model folder: `config.json` and the weights (`model.safetensors`,
   * sharded safetensors or `pytorch_model.bin`).
   *
   * @throws CheckpointError when a file is missing or malformed, or the weights do not match the config
   */
  static fromPretrained(dir: string): T5ForConditionalGeneration {
    const { config, json } = loadT5Config(dir);
    return T5ForConditionalGeneration.fromStateDict(config, loadT5Weights(dir, config), json);
  }

  /**
   * Creates a model from tensors under the names of {@link t5ParameterSpecs} (float dtypes are
   * converted to float32; extra entries are ignored).
   *
   * @throws MismatchError when a parameter is missing or has another shape
   */
  static fromStateDict(config: T5Config, state: StateDict, configJson?: Record<string, unknown>): T5ForConditionalGeneration {
    const params = new Map<string, tf.Variable>();
    for (const spec of t5ParameterSpecs(config)) {
      const tensor = state.get(spec.name);
      if (!tensor) throw new MismatchError(`Parameter "${spec.name}" is missing from the state dict`);
      if (!sameShape(tensor.shape, spec.shape)) {
        throw new MismatchError(`Parameter "${spec.name}" has shape ${formatShape(tensor.shape)} but the config needs ${formatShape(spec.shape)}`);
      }
      const initial = tf.tensor(toFloat32(tensor.dtype, tensor.data), spec.shape, 'float32');
      params.set(spec.name, tf.variable(initial));
      initial.dispose();
    }
    return new T5ForConditionalGeneration(config, params, configJson);
  }

  /** Returns the variable of a parameter or of an alias (`lm_head.weight` is `shared.weight` when tied). */
  parameter(name: string): tf.Variable {
    const variable = this.params.get(resolveT5ParameterName(this.config, name));
    if (!variable) throw new InvalidInputError(`T5 model has no parameter "${name}"`);
    return variable;
  }

  /**
   * Lists the linear layers masks apply to: attention q/k/v/o, cross-attention q/k/v/o,
   * feed-forward wi (or wi_0, wi_1) and wo, and `lm_head`. With tied embeddings `lm_head.weight`
   * is an alias of `shared.weight`; {@link parameter} resolves it.
   */
  linearLayers(): LinearLayer[] {
    return [...this.layers.values()];
  }

  /**
   * Runs the whole model: encoder, decoder and LM head, plus the loss when labels are given.
   *
   * @throws InvalidInputError for ids out of range, wrong dtypes or shapes, labels that are all -100,
   *   or labels without a `decoder_start_token_id` in the config
   */
  forward(inputs: T5Inputs, options: ForwardOptions = {}): T5Outputs {
    const { vocab_size: vocab } = this.config;
    checkTokenIds('inputIds', inputs.inputIds, vocab);
    if (inputs.attentionMask) checkAttentionMask(inputs.attentionMask, inputs.inputIds);
    if (inputs.decoderInputIds) checkTokenIds('decoderInputIds', inputs.decoderInputIds, vocab);
    if (inputs.labels) checkLabels(inputs.labels, vocab, inputs.decoderInputIds);
    if (!inputs.decoderInputIds && !inputs.labels) throw new InvalidInputError('Give decoderInputIds or labels to run the decoder');

    return tidy(() => {
      const pass = this.pass(options);
      const mask = inputs.attentionMask ?? tf.onesLike(inputs.inputIds);
      const encoderLastHiddenState = this.encoderStack(inputs.inputIds, mask, pass);

      const decoderInputIds = inputs.decoderInputIds ?? this.shiftRight(inputs.labels!);
      const cross = this.crossKeyValues(encoderLastHiddenState, pass);
      const { hidden: decoderLastHiddenState } = this.decoderStack(decoderInputIds, 0, undefined, cross, paddingMask(mask), pass);
      const logits = this.lmHead(decoderLastHiddenState, pass);

      const outputs: T5Outputs = { logits, encoderLastHiddenState, decoderLastHiddenState };
      if (inputs.labels) outputs.loss = crossEntropyLoss(logits, inputs.labels);
      return outputs;
    });
  }

  /**
   * Runs the encoder alone.
   *
   * @returns `[batch, source, d_model]`, after the final layer norm
   */
  encode(inputIds: tf.Tensor2D, attentionMask?: tf.Tensor2D, options: ForwardOptions = {}): tf.Tensor3D {
    checkTokenIds('inputIds', inputIds, this.config.vocab_size);
    if (attentionMask) checkAttentionMask(attentionMask, inputIds);
    return tf.tidy(() => this.encoderStack(inputIds, attentionMask ?? tf.onesLike(inputIds), this.pass(options)));
  }

  /**
   * Builds decoder inputs from labels as `transformers`' `_shift_right` does: prepends
   * `decoder_start_token_id`, drops the last label and replaces -100 by `pad_token_id`.
   *
   * @throws InvalidInputError when the config has no `decoder_start_token_id`
   */
  shiftRight(labels: tf.Tensor2D): tf.Tensor2D {
    const start = this.decoderStartTokenId();
    const [batch, length] = labels.shape;
    return tidy(() => {
      const first = tf.fill([batch, 1], start, 'int32'); // [batch, 1]
      const rest = tf.slice(labels, [0, 0], [batch, length - 1]); // [batch, length - 1]
      const shifted = tf.concat([first, rest], 1); // [batch, length]
      const pad = tf.fill([batch, length], this.config.pad_token_id, 'int32');
      return tf.where(tf.equal(shifted, IGNORE_INDEX), pad, shifted) as tf.Tensor2D;
    });
  }

  /** Returns `decoder_start_token_id`, or throws InvalidInputError when the config lacks it. */
  decoderStartTokenId(): number {
    const start = this.config.decoder_start_token_id;
    if (start === undefined) {
      throw new InvalidInputError('config.json has no decoder_start_token_id; set it (T5 and CodeT5 use 0, the pad id)');
    }
    return start;
  }

  /**
   * Prepares step-by-step decoding of an encoded batch: projects the cross-attention keys and
   * values of every decoder block once.
   *
   * @param encoderHidden - `[batch, source, d_model]` from {@link encode}
   * @param attentionMask - `[batch, source]` source padding mask
   */
  startDecoding(encoderHidden: tf.Tensor3D, attentionMask: tf.Tensor2D, options: ForwardOptions = {}): DecoderState {
    const pass = this.pass(options);
    const { crossKeyValues, crossBias } = tidy(() => ({
      crossKeyValues: this.crossKeyValues(encoderHidden, pass),
      crossBias: paddingMask(attentionMask),
    }));
    return { length: 0, selfKeyValues: undefined, crossKeyValues, crossBias };
  }

  /**
   * Decodes one token per row and appends its keys and values to `state`.
   *
   * @param tokens - the next decoder input token of each row
   * @returns next-token logits `[batch, vocab_size]`, which the caller disposes
   */
  decodeStep(state: DecoderState, tokens: Int32Array, options: ForwardOptions = {}): tf.Tensor2D {
    const batch = tokens.length;
    const result = tidy(() => {
      const pass = this.pass(options);
      const ids = tf.tensor2d(tokens, [batch, 1], 'int32');
      const { hidden, keyValues } = this.decoderStack(ids, state.length, state.selfKeyValues, state.crossKeyValues, state.crossBias, pass);
      const logits = tf.reshape(this.lmHead(hidden, pass), [batch, this.config.vocab_size]); // [batch, vocab]
      return { logits: logits as tf.Tensor2D, keyValues };
    });

    disposeKeyValues(state.selfKeyValues);
    state.selfKeyValues = result.keyValues;
    state.length += 1;
    return result.logits;
  }

  /** Reorders the rows of a decoder state (beam search keeps the rows of the surviving beams). */
  reorderDecoding(state: DecoderState, rows: Int32Array): void {
    if (!state.selfKeyValues) return;
    const old = state.selfKeyValues;
    state.selfKeyValues = tidy(() => {
      const indices = tf.tensor1d(rows, 'int32');
      return old.map(({ key, value }) => ({ key: tf.gather(key, indices), value: tf.gather(value, indices) }));
    });
    disposeKeyValues(old);
  }

  /** Releases the tensors of a decoder state. */
  disposeDecoding(state: DecoderState): void {
    disposeKeyValues(state.selfKeyValues);
    disposeKeyValues(state.crossKeyValues);
    state.crossBias.dispose();
    state.selfKeyValues = undefined;
  }

  /** Copies the parameters to host memory as float32, under the names `save_pretrained` writes. */
  stateDict(): StateDict {
    const state: StateDict = new Map();
    for (const [name, variable] of this.params) {
      state.set(name, { dtype: 'F32', shape: [...variable.shape], data: new Float32Array(variable.dataSync()) });
    }
    return state;
  }

  /**
   * Writes `config.json` and `model.safetensors` (float32, tied tensors once) to `dir`, which
   * appears only when complete.
   *
   * @throws InvalidInputError when `dir` exists and is not empty, unless `overwrite` is set
   */
  async save(dir: string, options: { overwrite?: boolean } = {}): Promise<void> {
    await saveT5Folder(dir, this.config, this.stateDict(), { originalJson: this.configJson, overwrite: options.overwrite });
  }

  /** Releases every parameter. */
  dispose(): void {
    for (const variable of this.params.values()) variable.dispose();
  }

  // --- components -----------------------------------------------------------------------

  private pass(options: ForwardOptions): Pass {
    return {
      linear: options.linear ?? denseLinear,
      dropout: new Dropout(this.config.dropout_rate, options.training ?? false, options.seed),
    };
  }

  private project(name: string, x: tf.Tensor, pass: Pass): tf.Tensor {
    const layer = this.layers.get(name)!;
    return pass.linear(layer, x, this.parameter(layer.weight) as tf.Tensor as tf.Tensor2D, undefined);
  }

  private norm(name: string, x: tf.Tensor): tf.Tensor {
    return rmsNorm(x, this.parameter(name) as tf.Tensor as tf.Tensor1D, this.config.layer_norm_epsilon);
  }

  private embed(ids: tf.Tensor2D, pass: Pass): tf.Tensor3D {
    return pass.dropout.apply(tf.gather(this.parameter('shared.weight'), ids)) as tf.Tensor3D; // [batch, seq, d_model]
  }

  private attention(prefix: string, hidden: tf.Tensor, keyValue: KeyValue, bias: tf.Tensor, pass: Pass): tf.Tensor {
    const { num_heads: heads, d_kv: headSize } = this.config;
    const query = splitHeads(this.project(`${prefix}.q`, hidden, pass), heads, headSize); // [batch, heads, q, d_kv]
    const context = attend(query, keyValue.key, keyValue.value, bias, (x) => pass.dropout.apply(x)); // [batch, heads, q, d_kv]
    return this.project(`${prefix}.o`, mergeHeads(context), pass); // [batch, q, d_model]
  }

  private keyValue(prefix: string, hidden: tf.Tensor, pass: Pass, past?: KeyValue): KeyValue {
    const { num_heads: heads, d_kv: headSize } = this.config;
    let key = splitHeads(this.project(`${prefix}.k`, hidden, pass), heads, headSize); // [batch, heads, new, d_kv]
    let value = splitHeads(this.project(`${prefix}.v`, hidden, pass), heads, headSize);
    if (past) {
      key = tf.concat([past.key, key], 2); // [batch, heads, past + new, d_kv]
      value = tf.concat([past.value, value], 2);
    }
    return { key, value };
  }

  private feedForward(prefix: string, hidden: tf.Tensor, pass: Pass): tf.Tensor {
    const dense = `${prefix}.DenseReluDense`;
    const act = this.config.dense_act_fn;
    const inner = this.config.is_gated_act
      ? tf.mul(activation(act, this.project(`${dense}.wi_0`, hidden, pass)), this.project(`${dense}.wi_1`, hidden, pass))
      : activation(act, this.project(`${dense}.wi`, hidden, pass)); // [batch, seq, d_ff]
    return this.project(`${dense}.wo`, pass.dropout.apply(inner), pass); // [batch, seq, d_model]
  }

  private encoderBlock(index: number, hidden: tf.Tensor, bias: tf.Tensor, pass: Pass): tf.Tensor {
    const block = `encoder.block.${index}`;
    const drop = (x: tf.Tensor) => pass.dropout.apply(x);

    // self-attention
    const normed = this.norm(`${block}.layer.0.layer_norm.weight`, hidden);
    const self = `${block}.layer.0.SelfAttention`;
    hidden = tf.add(hidden, drop(this.attention(self, normed, this.keyValue(self, normed, pass), bias, pass)));

    // feed-forward
    const normedForward = this.norm(`${block}.layer.1.layer_norm.weight`, hidden);
    return tf.add(hidden, drop(this.feedForward(`${block}.layer.1`, normedForward, pass))); // [batch, source, d_model]
  }

  private encoderStack(inputIds: tf.Tensor2D, attentionMask: tf.Tensor2D, pass: Pass): tf.Tensor3D {
    const { num_buckets, max_distance } = this.bucketing();
    const length = inputIds.shape[1];

    // one bias (learned positions plus padding) shared by every block
    const buckets = relativePositionBuckets(length, length, 0, true, num_buckets, max_distance);
    const relative = positionBias(this.parameter('encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight'), buckets, length, length);
    const bias = tf.add(relative, paddingMask(attentionMask)); // [batch, heads, source, source]

    let hidden: tf.Tensor = this.embed(inputIds, pass); // [batch, source, d_model]
    for (let i = 0; i < this.config.num_layers; i++) hidden = this.encoderBlock(i, hidden, bias, pass);
    return pass.dropout.apply(this.norm('encoder.final_layer_norm.weight', hidden)) as tf.Tensor3D;
  }

  private crossKeyValues(encoderHidden: tf.Tensor3D, pass: Pass): KeyValue[] {
    const keyValues: KeyValue[] = [];
    for (let i = 0; i < this.config.num_decoder_layers; i++) {
      keyValues.push(this.keyValue(`decoder.block.${i}.layer.1.EncDecAttention`, encoderHidden, pass));
    }
    return keyValues;
  }

  private decoderBlock(
    index: number,
    hidden: tf.Tensor,
    selfBias: tf.Tensor,
    cross: KeyValue,
    crossBias: tf.Tensor,
    pass: Pass,
    past?: KeyValue,
  ): { hidden: tf.Tensor; keyValue: KeyValue } {
    const block = `decoder.block.${index}`;
    const drop = (x: tf.Tensor) => pass.dropout.apply(x);

    // causal self-attention over the past and the new tokens
    const normed = this.norm(`${block}.layer.0.layer_norm.weight`, hidden);
    const self = `${block}.layer.0.SelfAttention`;
    const keyValue = this.keyValue(self, normed, pass, past);
    hidden = tf.add(hidden, drop(this.attention(self, normed, keyValue, selfBias, pass)));

    // cross-attention over the source, without position bias
    const normedCross = this.norm(`${block}.layer.1.layer_norm.weight`, hidden);
    hidden = tf.add(hidden, drop(this.attention(`${block}.layer.1.EncDecAttention`, normedCross, cross, crossBias, pass)));

    // feed-forward
    const normedForward = this.norm(`${block}.layer.2.layer_norm.weight`, hidden);
    hidden = tf.add(hidden, drop(this.feedForward(`${block}.layer.2`, normedForward, pass))); // [batch, target, d_model]
    return { hidden, keyValue };
  }

  /** Runs the decoder blocks on new tokens at positions `offset ...`, after `past` keys and values. */
  private decoderStack(
    ids: tf.Tensor2D,
    offset: number,
    past: KeyValue[] | undefined,
    cross: KeyValue[],
    crossBias: tf.Tensor,
    pass: Pass,
  ): { hidden: tf.Tensor3D; keyValues: KeyValue[] } {
    const { num_buckets, max_distance } = this.bucketing();
    const length = ids.shape[1];
    const keys = offset + length;

    // one causal bias shared by every block
    const buckets = relativePositionBuckets(length, keys, offset, false, num_buckets, max_distance);
    const relative = positionBias(this.parameter('decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight'), buckets, length, keys);
    const selfBias = tf.add(relative, causalMaskBias(length, keys)); // [1, heads, target, past + target]

    let hidden: tf.Tensor = this.embed(ids, pass); // [batch, target, d_model]
    const keyValues: KeyValue[] = [];
    for (let i = 0; i < this.config.num_decoder_layers; i++) {
      const out = this.decoderBlock(i, hidden, selfBias, cross[i], crossBias, pass, past?.[i]);
      hidden = out.hidden;
      keyValues.push(out.keyValue);
    }
    const normed = pass.dropout.apply(this.norm('decoder.final_layer_norm.weight', hidden)) as tf.Tensor3D;
    return { hidden: normed, keyValues };
  }

  private lmHead(hidden: tf.Tensor3D, pass: Pass): tf.Tensor3D {
    // A tied head reuses the input embedding, whose scale T5 undoes by d_model^-0.5.
    const scaled = this.config.tie_word_embeddings ? tf.mul(hidden, this.config.d_model ** -0.5) : hidden;
    return this.project('lm_head', scaled, pass) as tf.Tensor3D; // [batch, target, vocab]
  }

  private bucketing(): { num_buckets: number; max_distance: number } {
    return { num_buckets: this.config.relative_attention_num_buckets, max_distance: this.config.relative_attention_max_distance };
  }
}

/** Lists the linear layers of a T5 config, with Hugging Face module names. */
function buildLinearLayers(config: T5Config): LinearLayer[] {
  const { d_model: model, d_ff: ff, vocab_size: vocab } = config;
  const inner = config.num_heads * config.d_kv;
  const layers: LinearLayer[] = [];
  const add = (name: string, inFeatures: number, outFeatures: number) =>
    layers.push({ name, weight: `${name}.weight`, inFeatures, outFeatures });

  const attention = (prefix: string) => {
    for (const projection of ['q', 'k', 'v']) add(`${prefix}.${projection}`, model, inner);
    add(`${prefix}.o`, inner, model);
  };
  const feedForward = (prefix: string) => {
    for (const input of config.is_gated_act ? ['wi_0', 'wi_1'] : ['wi']) add(`${prefix}.DenseReluDense.${input}`, model, ff);
    add(`${prefix}.DenseReluDense.wo`, ff, model);
  };

  for (let i = 0; i < config.num_layers; i++) {
    attention(`encoder.block.${i}.layer.0.SelfAttention`);
    feedForward(`encoder.block.${i}.layer.1`);
  }
  for (let i = 0; i < config.num_decoder_layers; i++) {
    attention(`decoder.block.${i}.layer.0.SelfAttention`);
    attention(`decoder.block.${i}.layer.1.EncDecAttention`);
    feedForward(`decoder.block.${i}.layer.2`);
  }
  add('lm_head', model, vocab);
  return layers;
}

function checkLabels(labels: tf.Tensor2D, vocab: number, decoderInputIds?: tf.Tensor2D): void {
  checkTokenIds('labels', labels, vocab, true);
  if (!labels.dataSync().some((id) => id !== IGNORE_INDEX)) {
    throw new InvalidInputError('labels hold only -100, so the loss has no target; give at least one token id');
  }
  if (decoderInputIds && (decoderInputIds.shape[0] !== labels.shape[0] || decoderInputIds.shape[1] !== labels.shape[1])) {
    throw new InvalidInputError(
      `labels have shape [${labels.shape.join(', ')}] but decoderInputIds have [${decoderInputIds.shape.join(', ')}]`,
    );
  }
}

/** Runs `fn` in `tf.tidy`, keeping the tensors of whatever object it returns. */
function tidy<T>(fn: () => T): T {
  return tf.tidy(fn as unknown as () => tf.TensorContainer) as unknown as T;
}

function disposeKeyValues(keyValues: KeyValue[] | undefined): void {
  for (const { key, value } of keyValues ?? []) {
    key.dispose();
    value.dispose();
  }
}
