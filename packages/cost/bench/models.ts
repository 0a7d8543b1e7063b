/**
 * Task models of benchmark size with random weights: GPT-Neo-125M with the ModularEvo
 * classification head, and CodeBERT-base (RoBERTa) with a sequence-classification head. Each
 * runs the forward pass its downstream task runs, so the language-modelling heads (GPT-Neo's
 * `lm_head` over 50257 tokens, RoBERTa's `lm_head`) are not part of it.
 */
import * as tf from '@tensorflow/tfjs-core';
import { linear, Rng, type LinearFn, type LinearLayer } from '@modularevo/core-tensor';
import { CodeBertModel, parseRobertaConfig, ROBERTA_MODEL_LAYOUT } from '@modularevo/codebert';
import { GPTNeoForCausalLM, GPTNeoWithClassificationHead, parseGPTNeoConfig } from '@modularevo/gptneo';

import { seededUniform } from '../src/testing/architectures';
import { gptNeoBodyGraph, robertaEncoderGraph, type ParameterValues } from './onnx-graph';

/** A task model the benchmark times. */
export interface BenchModel {
  name: string;
  /** The body's linear layers, which a module masks (task heads excluded). */
  linearLayers(): LinearLayer[];
  parameter(name: string): tf.Variable;
  /** Returns the task logits `[batch, labels]` of `batch` rows of `seq` tokens. */
  forward(batch: number, seq: number, linear: LinearFn): tf.Tensor2D;
  /** Returns the body's last hidden state `[batch, seq, hidden]` of the same rows. */
  body(batch: number, seq: number, linear: LinearFn): tf.Tensor3D;
  /** The body as an ONNX graph on the same weights, and its inputs for `batch` rows of `seq` tokens. */
  onnx: { graph(): Uint8Array; feeds(batch: number, seq: number): Record<string, { type: 'int64' | 'float32'; data: BigInt64Array | Float32Array; dims: number[] }> };
  dispose(): void;
}

function valuesOf(parameter: (name: string) => tf.Variable): ParameterValues {
  return (name) => parameter(name).dataSync() as Float32Array;
}

function int64s(rows: number[][]): { type: 'int64'; data: BigInt64Array; dims: number[] } {
  return { type: 'int64', data: BigInt64Array.from(rows.flat().map(BigInt)), dims: [rows.length, rows[0]?.length ?? 0] };
}

// additive attention bias [1, 1, seq, seq]: 0 where query i may attend to key j (j <= i and i - j < window), -1e9 elsewhere
function causalBias(seq: number, window: number): { type: 'float32'; data: Float32Array; dims: number[] } {
  const data = new Float32Array(seq * seq);
  for (let i = 0; i < seq; i++) for (let j = 0; j < seq; j++) data[i * seq + j] = j <= i && i - j < window ? 0 : -1e9;
  return { type: 'float32', data, dims: [1, 1, seq, seq] };
}

// token ids spread over the vocabulary, the same for every run
function tokenIds(batch: number, seq: number, vocab: number, offset: number): number[][] {
  return Array.from({ length: batch }, (_, b) => Array.from({ length: seq }, (_, t) => offset + ((b * 7919 + t * 104729) % (vocab - offset))));
}

const GPT_NEO_125M = {
  model_type: 'gpt_neo',
  vocab_size: 50257,
  hidden_size: 768,
  num_layers: 12,
  num_heads: 12,
  max_position_embeddings: 2048,
  attention_types: [[['global', 'local'], 6]],
  window_size: 256,
  intermediate_size: null,
  activation_function: 'gelu_new',
  layer_norm_epsilon: 1e-5,
  embed_dropout: 0,
  attention_dropout: 0,
  resid_dropout: 0,
  bos_token_id: 50256,
  eos_token_id: 50256,
};

/** GPT-Neo-125M (EleutherAI/gpt-neo-125m sizes) with the ModularEvo classification head over 5 labels. */
export function gptNeo125m(): BenchModel {
  const config = parseGPTNeoConfig(GPT_NEO_125M);
  const uniform = seededUniform(1);
  const classifier = GPTNeoWithClassificationHead.create(GPTNeoForCausalLM.fromConfig(config, uniform), { task: 'bench', labels: ['a', 'b', 'c', 'd', 'e'] }, uniform);
  const body = classifier.base.linearLayers().filter((layer) => layer.name !== 'lm_head');
  return {
    name: 'GPT-Neo-125M',
    linearLayers: () => body,
    parameter: (name) => classifier.base.parameter(name),
    forward: (batch, seq, linearFn) => classifier.forward({ inputIds: tokenIds(batch, seq, config.vocab_size, 0) }, { linear: linearFn }),
    body: (batch, seq, linearFn) => classifier.base.transformer({ inputIds: tokenIds(batch, seq, config.vocab_size, 0) }, { linear: linearFn }).lastHiddenState,
    onnx: {
      graph: () =>
        gptNeoBodyGraph(valuesOf((name) => classifier.base.parameter(name)), { layers: 12, hidden: 768, heads: 12, intermediate: 3072 }, config.attention_layers, config.layer_norm_epsilon),
      feeds: (batch, seq) => ({
        input_ids: int64s(tokenIds(batch, seq, config.vocab_size, 0)),
        position_ids: int64s(Array.from({ length: batch }, () => Array.from({ length: seq }, (_, t) => t))),
        global_bias: causalBias(seq, seq),
        local_bias: causalBias(seq, config.window_size),
      }),
    },
    dispose: () => classifier.dispose(),
  };
}

/**
 * GPT-Neo-125M as a causal language model: the body and `lm_head` over the 50257-token
 * vocabulary at every position, which a module masks too. Its "task logits" are the next-token
 * logits `[batch * seq, vocab]`. This is not what a downstream classifier runs; the benchmark
 * shows with it what `lm_head` adds.
 */
export function gptNeo125mCausalLm(): BenchModel {
  const config = parseGPTNeoConfig(GPT_NEO_125M);
  const model = GPTNeoForCausalLM.fromConfig(config, seededUniform(1));
  const ids = (batch: number, seq: number) => tokenIds(batch, seq, config.vocab_size, 0);
  return {
    name: 'GPT-Neo-125M with lm_head',
    linearLayers: () => model.linearLayers(),
    parameter: (name) => model.parameter(name),
    forward: (batch, seq, linearFn) => tf.reshape(model.forward({ inputIds: ids(batch, seq) }, { linear: linearFn }).logits, [batch * seq, config.vocab_size]) as tf.Tensor2D,
    body: (batch, seq, linearFn) => model.transformer({ inputIds: ids(batch, seq) }, { linear: linearFn }).lastHiddenState,
    onnx: {
      graph: () => {
        throw new Error('the benchmark has no ONNX graph of GPT-Neo with lm_head; use gptNeo125m for ONNX Runtime');
      },
      feeds: () => ({}),
    },
    dispose: () => model.dispose(),
  };
}

/**
 * CodeBERT-base (microsoft/codebert-base sizes) with the head of `RobertaForSequenceClassification`
 * over 2 labels: dense, tanh and out_proj on the `<s>` vector, as CodeXGLUE defect detection uses.
 */
export function codeBertBase(): BenchModel {
  const config = parseRobertaConfig({
    model_type: 'roberta',
    vocab_size: 50265,
    hidden_size: 768,
    num_hidden_layers: 12,
    num_attention_heads: 12,
    intermediate_size: 3072,
    hidden_act: 'gelu',
    hidden_dropout_prob: 0,
    attention_probs_dropout_prob: 0,
    max_position_embeddings: 514,
    type_vocab_size: 1,
    layer_norm_eps: 1e-5,
    pad_token_id: 1,
    bos_token_id: 0,
    eos_token_id: 2,
  });
  const rng = Rng.create(2);
  const model = CodeBertModel.fromConfig(config, rng, ROBERTA_MODEL_LAYOUT);
  const body = model.linearLayers().filter((layer) => !layer.name.startsWith('pooler.'));

  // sequence-classification head, PyTorch's default nn.Linear initialisation
  const head = [
    { name: 'classifier.dense', weight: 'classifier.dense.weight', bias: 'classifier.dense.bias', inFeatures: 768, outFeatures: 768 },
    { name: 'classifier.out_proj', weight: 'classifier.out_proj.weight', bias: 'classifier.out_proj.bias', inFeatures: 768, outFeatures: 2 },
  ];
  const headParams = new Map<string, tf.Variable>();
  for (const layer of head) {
    const bound = 1 / Math.sqrt(layer.inFeatures);
    headParams.set(layer.weight, tf.variable(tf.tensor2d(rng.fillUniform(new Float32Array(layer.outFeatures * layer.inFeatures), -bound, bound), [layer.outFeatures, layer.inFeatures])));
    headParams.set(layer.bias, tf.variable(tf.tensor1d(rng.fillUniform(new Float32Array(layer.outFeatures), -bound, bound))));
  }
  const applyHead = (x: tf.Tensor, layer: (typeof head)[number]) =>
    linear(x, headParams.get(layer.weight) as unknown as tf.Tensor2D, headParams.get(layer.bias) as unknown as tf.Tensor1D);

  return {
    name: 'CodeBERT-base',
    linearLayers: () => body,
    parameter: (name) => model.parameter(name),
    forward: (batch, seq, linearFn) => {
      const hidden = model.encode({ inputIds: tokenIds(batch, seq, config.vocab_size, 3) }, { linear: linearFn }).lastHiddenState; // [batch, seq, hidden]
      const first = tf.squeeze(tf.slice(hidden, [0, 0, 0], [batch, 1, config.hidden_size]), [1]); // [batch, hidden]: the <s> vector
      return applyHead(tf.tanh(applyHead(first, head[0])), head[1]) as tf.Tensor2D; // [batch, 2]
    },
    body: (batch, seq, linearFn) => model.encode({ inputIds: tokenIds(batch, seq, config.vocab_size, 3) }, { linear: linearFn }).lastHiddenState,
    onnx: {
      graph: () => robertaEncoderGraph(valuesOf((name) => model.parameter(name)), { layers: 12, hidden: 768, heads: 12, intermediate: 3072 }, config.layer_norm_eps),
      // no padding: positions count from pad_token_id + 1, as create_position_ids_from_input_ids gives them
      feeds: (batch, seq) => ({
        input_ids: int64s(tokenIds(batch, seq, config.vocab_size, 3)),
        position_ids: int64s(Array.from({ length: batch }, () => Array.from({ length: seq }, (_, t) => config.pad_token_id + 1 + t))),
      }),
    },
    dispose: () => {
      model.dispose();
      headParams.forEach((variable) => variable.dispose());
    },
  };
}
