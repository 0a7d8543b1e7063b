/**
 * GPT-Neo parameters under the names Hugging Face `transformers` gives them
 * (`GPTNeoForCausalLM.named_parameters()`), read from and written to checkpoints.
 */
import * as tf from '@tensorflow/tfjs-core';

import {
  CheckpointError,
  formatShape,
  MismatchError,
  sameShape,
  toFloat32,
  type CheckpointReader,
  type StateDict,
} from '@modularevo/core-tensor';

import type { GPTNeoConfig } from './config';

/** Parameters that share storage with another one: `lm_head.weight` is `transformer.wte.weight` unless untied. */
export const TIED_WEIGHTS: Readonly<Record<string, string>> = { 'lm_head.weight': 'transformer.wte.weight' };

// Attention-mask buffers that older checkpoints store next to the weights; they are rebuilt, not loaded.
const BUFFER_SUFFIXES = ['.attn.attention.bias', '.attn.attention.masked_bias'];

/**
 * Returns the name and shape of every parameter the model owns, in `named_parameters()` order.
 * `lm_head.weight` is listed only when `tie_word_embeddings` is false.
 */
export function gptNeoParameterShapes(config: GPTNeoConfig): Map<string, number[]> {
  const { vocab_size: vocab, hidden_size: hidden, intermediate_size: inner, max_position_embeddings: positions } = config;
  const shapes = new Map<string, number[]>();
  shapes.set('transformer.wte.weight', [vocab, hidden]);
  shapes.set('transformer.wpe.weight', [positions, hidden]);
  for (let i = 0; i < config.num_layers; i++) {
    const block = `transformer.h.${i}`;
    shapes.set(`${block}.ln_1.weight`, [hidden]);
    shapes.set(`${block}.ln_1.bias`, [hidden]);
    shapes.set(`${block}.attn.attention.k_proj.weight`, [hidden, hidden]);
    shapes.set(`${block}.attn.attention.v_proj.weight`, [hidden, hidden]);
    shapes.set(`${block}.attn.attention.q_proj.weight`, [hidden, hidden]);
    shapes.set(`${block}.attn.attention.out_proj.weight`, [hidden, hidden]);
    shapes.set(`${block}.attn.attention.out_proj.bias`, [hidden]);
    shapes.set(`${block}.ln_2.weight`, [hidden]);
    shapes.set(`${block}.ln_2.bias`, [hidden]);
    shapes.set(`${block}.mlp.c_fc.weight`, [inner, hidden]);
    shapes.set(`${block}.mlp.c_fc.bias`, [inner]);
    shapes.set(`${block}.mlp.c_proj.weight`, [hidden, inner]);
    shapes.set(`${block}.mlp.c_proj.bias`, [hidden]);
  }
  shapes.set('transformer.ln_f.weight', [hidden]);
  shapes.set('transformer.ln_f.bias', [hidden]);
  if (!config.tie_word_embeddings) shapes.set('lm_head.weight', [vocab, hidden]);
  return shapes;
}

/** Parameters loaded from a checkpoint, and the checkpoint keys the model did not use. */
export interface LoadedParameters {
  params: Map<string, tf.Variable>;
  /** Checkpoint keys that are not GPT-Neo parameters (task heads, for example), as stored. */
  unusedKeys: string[];
}

/**
 * Reads every GPT-Neo parameter from `reader` into float32 `tf.Variable`s keyed by Hugging Face
 * name. Accepts the key layouts `transformers` writes: `GPTNeoForCausalLM` (`transformer.*`),
 * `GPTNeoModel` (no prefix) and a wrapper module with a `base_model.` prefix. A stored
 * `lm_head.weight` of a tied model is checked for shape and then ignored, as `transformers` does.
 *
 * @throws CheckpointError naming the file and tensor when a tensor is missing, has another
 *   shape than `config.json` implies, or contains NaN or infinite values.
 */
export function loadGPTNeoParameters(reader: CheckpointReader, config: GPTNeoConfig): LoadedParameters {
  const layout = detectKeyLayout(reader);
  const expected = gptNeoParameterShapes(config);
  const used = new Set<string>();

  // read and check every parameter before creating any variable, so a bad file leaks nothing
  const tensors = new Map<string, { shape: number[]; values: Float32Array }>();
  for (const [name, shape] of expected) {
    const key = layout.keyOf(name);
    tensors.set(name, { shape, values: readChecked(reader, key, name, shape) });
    used.add(key);
  }
  if (config.tie_word_embeddings) {
    const key = layout.keyOf('lm_head.weight');
    if (reader.has(key)) {
      checkShape(reader, key, reader.info(key).shape, [config.vocab_size, config.hidden_size]);
      used.add(key);
    }
  }

  const params = new Map<string, tf.Variable>();
  for (const [name, { shape, values }] of tensors) {
    params.set(name, floatVariable(values, shape));
  }

  const unusedKeys = reader
    .keys()
    .filter((key) => !used.has(key) && !BUFFER_SUFFIXES.some((suffix) => key.endsWith(suffix)));
  return { params, unusedKeys };
}

/**
 * Creates freshly initialised parameters as `GPTNeoPreTrainedModel._init_weights` does: linear
 * and embedding weights from a normal distribution with standard deviation `initializer_range`,
 * biases 0, layer norms weight 1 and bias 0.
 *
 * @param uniform - source of uniform numbers in [0, 1), so the result is reproducible on any backend
 */
export function initGPTNeoParameters(config: GPTNeoConfig, uniform: () => number): Map<string, tf.Variable> {
  const params = new Map<string, tf.Variable>();
  for (const [name, shape] of gptNeoParameterShapes(config)) {
    const size = shape.reduce((a, b) => a * b, 1);
    const values = new Float32Array(size);
    if (/\.ln_\d\.|\.ln_f\./.test(name)) {
      if (name.endsWith('.weight')) values.fill(1);
    } else if (name.endsWith('.weight')) {
      fillNormal(values, config.initializer_range, uniform);
    }
    params.set(name, floatVariable(values, shape));
  }
  return params;
}

/**
 * Copies parameters into a state dict with Hugging Face names, as `save_pretrained` writes them:
 * a tied `lm_head.weight` is left out because it duplicates `transformer.wte.weight`.
 */
export function toStateDict(params: Map<string, tf.Variable>): StateDict {
  const state: StateDict = new Map();
  for (const [name, variable] of params) {
    state.set(name, { dtype: 'F32', shape: [...variable.shape], data: variable.dataSync() as Float32Array });
  }
  return state;
}

/**
 * Creates a trainable float32 variable holding `values`. `tf.variable` copies its initial
 * tensor, and that tensor would outlive the variable's `dispose` unless freed here.
 */
export function floatVariable(values: Float32Array, shape: number[]): tf.Variable {
  return tf.tidy(() => tf.variable(tf.tensor(values, shape, 'float32')));
}

// Float dtypes a state dict may carry for `assignGPTNeoParameters`; they are converted to float32.
const FLOAT_DTYPES = new Set(['F32', 'F16', 'BF16', 'F64']);

/**
 * Overwrites parameters from `state`, by Hugging Face name; a tied `lm_head.weight` sets
 * `transformer.wte.weight`. Names absent from `state` keep their values. Every entry is checked
 * before any parameter changes.
 *
 * @throws MismatchError naming the tensor for an unknown name, another shape, a dtype that is not
 *   a float dtype, or a tied pair (`lm_head.weight` and `transformer.wte.weight`) with different values
 */
export function assignGPTNeoParameters(params: Map<string, tf.Variable>, state: StateDict): void {
  const updates = new Map<string, { name: string; values: Float32Array }>();
  for (const [name, tensor] of state) {
    const target = params.has(name) ? name : TIED_WEIGHTS[name];
    const variable = target === undefined ? undefined : params.get(target);
    if (!variable || target === undefined) {
      throw new MismatchError(`Cannot assign "${name}": GPT-Neo has no such parameter (see gptNeoParameterShapes for the names)`);
    }
    if (!sameShape(tensor.shape, variable.shape)) {
      throw new MismatchError(`Cannot assign "${name}" of shape ${formatShape(tensor.shape)}: the parameter "${target}" has shape ${formatShape(variable.shape)}`);
    }
    if (!FLOAT_DTYPES.has(tensor.dtype)) {
      throw new MismatchError(`Cannot assign "${name}": its dtype ${tensor.dtype} is not a float dtype (${[...FLOAT_DTYPES].join(', ')})`);
    }

    // tied names set one tensor, so they must agree
    const values = toFloat32(tensor.dtype, tensor.data);
    const earlier = updates.get(target);
    if (earlier && !sameBits(earlier.values, values)) {
      throw new MismatchError(`"${earlier.name}" and "${name}" both set "${target}" (tied weights) but hold different values; give one of them`);
    }
    updates.set(target, { name, values });
  }

  for (const [target, { values }] of updates) {
    const variable = params.get(target)!;
    tf.tidy(() => variable.assign(tf.tensor(values, variable.shape, 'float32')));
  }
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  return x.every((word, i) => word === y[i]);
}

/** Mapping from `GPTNeoForCausalLM` parameter names to the keys of one checkpoint. */
interface KeyLayout {
  keyOf(name: string): string;
}

function detectKeyLayout(reader: CheckpointReader): KeyLayout {
  const embeddingKey = reader.keys().find((key) => key === 'wte.weight' || key.endsWith('.wte.weight'));
  if (!embeddingKey) {
    throw new CheckpointError(
      reader.path,
      'tensor "transformer.wte.weight" is missing; this is not a GPT-Neo checkpoint',
      'Use a folder saved by GPTNeoForCausalLM.save_pretrained',
    );
  }

  // "base_model.transformer.wte.weight" -> transformer prefix "base_model.transformer.", outer prefix "base_model."
  const transformerPrefix = embeddingKey.slice(0, -'wte.weight'.length);
  const outerPrefix = transformerPrefix.endsWith('transformer.')
    ? transformerPrefix.slice(0, -'transformer.'.length)
    : transformerPrefix;
  return {
    keyOf: (name) =>
      name.startsWith('transformer.') ? transformerPrefix + name.slice('transformer.'.length) : outerPrefix + name,
  };
}

function readChecked(reader: CheckpointReader, key: string, name: string, shape: number[]): Float32Array {
  if (!reader.has(key)) {
    throw new CheckpointError(
      reader.path,
      `tensor "${key}" is missing (the GPT-Neo parameter ${name}, shape ${formatShape(shape)})`,
      'Check that the checkpoint and config.json come from the same model',
    );
  }
  checkShape(reader, key, reader.info(key).shape, shape);

  const raw = reader.read(key);
  const values = toFloat32(raw.dtype, raw.data);
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) {
      throw new CheckpointError(reader.path, `tensor "${key}" contains a non-finite value (${values[i]}) at index ${i}`, 'Use a checkpoint saved from a healthy run');
    }
  }
  return values;
}

function checkShape(reader: CheckpointReader, key: string, actual: number[], expected: number[]): void {
  if (!sameShape(actual, expected)) {
    throw new CheckpointError(
      reader.path,
      `tensor "${key}" has shape ${formatShape(actual)} but config.json implies ${formatShape(expected)}`,
      'Check that the checkpoint and config.json come from the same model',
    );
  }
}

// Box-Muller transform; 1 - u keeps the logarithm away from zero.
function fillNormal(values: Float32Array, std: number, uniform: () => number): void {
  for (let i = 0; i < values.length; i += 2) {
    const radius = Math.sqrt(-2 * Math.log(1 - uniform())) * std;
    const angle = 2 * Math.PI * uniform();
    values[i] = radius * Math.cos(angle);
    if (i + 1 < values.length) values[i + 1] = radius * Math.sin(angle);
  }
}
