/**
 * RoBERTa parameters under the names Hugging Face `transformers` gives them, in the two layouts
 * CodeBERT checkpoints come in: `RobertaModel` (`embeddings.*`, `encoder.*`, `pooler.*`, as
 * microsoft/codebert-base) and `RobertaForMaskedLM` (`roberta.*` plus `lm_head.*`, as
 * microsoft/codebert-base-mlm). The model keeps the names of the layout it was loaded from, so it
 * saves back in that layout.
 */
import * as tf from '@tensorflow/tfjs-core';

import {
  CheckpointError,
  formatShape,
  getLogger,
  numel,
  Rng,
  sameShape,
  toFloat32,
  type CheckpointReader,
  type StateDict,
} from '@modularevo/core-tensor';

import type { RobertaConfig } from './config';

const log = getLogger('codebert');

/** Name prefixes of the RoBERTa body and the masked-LM head in one checkpoint. */
export interface RobertaLayout {
  /** Prefix of body names: `''` for `RobertaModel`, `'roberta.'` for `RobertaForMaskedLM`. */
  bodyPrefix: string;
  /** Prefix of `lm_head.*` names (`''` in `RobertaForMaskedLM`). */
  headPrefix: string;
  /** Whether the model has the masked-LM head `lm_head`. */
  lmHead: boolean;
}

/** The `RobertaModel` layout (microsoft/codebert-base). */
export const ROBERTA_MODEL_LAYOUT: RobertaLayout = { bodyPrefix: '', headPrefix: '', lmHead: false };

/** The `RobertaForMaskedLM` layout (microsoft/codebert-base-mlm). */
export const ROBERTA_MASKED_LM_LAYOUT: RobertaLayout = { bodyPrefix: 'roberta.', headPrefix: '', lmHead: true };

// Seed of a pooler that the checkpoint lacks: the same on every load, so every task model and
// the base model start from the same pooler and their task vectors agree on it.
const FRESH_POOLER_SEED = 0;

// Buffers that some checkpoints store next to the weights; they are recomputed, not loaded.
const BUFFER_SUFFIXES = ['embeddings.position_ids', 'embeddings.token_type_ids'];

/** Full parameter names of one layout. */
export class RobertaNames {
  constructor(readonly layout: RobertaLayout) {}

  /** Name of a body parameter, for example `encoder.layer.0.attention.self.query.weight`. */
  body(name: string): string {
    return this.layout.bodyPrefix + name;
  }

  /** Name of an `lm_head` parameter, for example `lm_head.dense.weight`. */
  head(name: string): string {
    return `${this.layout.headPrefix}lm_head.${name}`;
  }

  /** Word embeddings, `[vocab, hidden]`. */
  get wordEmbeddings(): string {
    return this.body('embeddings.word_embeddings.weight');
  }

  /** Prefix of block `index`, for example `roberta.encoder.layer.3`. */
  layer(index: number): string {
    return this.body(`encoder.layer.${index}`);
  }

  /**
   * Names that are another parameter under a second name: `lm_head.decoder.weight` is the word
   * embedding matrix (when tied) and `lm_head.decoder.bias` is `lm_head.bias`.
   */
  tiedWeights(config: RobertaConfig): Record<string, string> {
    if (!this.layout.lmHead) return {};
    const tied: Record<string, string> = { [this.head('decoder.bias')]: this.head('bias') };
    if (config.tie_word_embeddings) tied[this.head('decoder.weight')] = this.wordEmbeddings;
    return tied;
  }
}

/**
 * Returns the name and shape of every parameter the model owns, in `named_parameters()` order of
 * `transformers`: embeddings, the blocks, the pooler, then `lm_head` when the layout has it. A
 * tied `lm_head.decoder.weight` and `lm_head.decoder.bias` are not listed.
 */
export function robertaParameterShapes(config: RobertaConfig, layout: RobertaLayout): Map<string, number[]> {
  const names = new RobertaNames(layout);
  const { vocab_size: vocab, hidden_size: hidden, intermediate_size: inner } = config;
  const shapes = new Map<string, number[]>();
  const linear = (name: string, inFeatures: number, outFeatures: number) => {
    shapes.set(`${name}.weight`, [outFeatures, inFeatures]);
    shapes.set(`${name}.bias`, [outFeatures]);
  };
  const norm = (name: string) => {
    shapes.set(`${name}.weight`, [hidden]);
    shapes.set(`${name}.bias`, [hidden]);
  };

  shapes.set(names.wordEmbeddings, [vocab, hidden]);
  shapes.set(names.body('embeddings.position_embeddings.weight'), [config.max_position_embeddings, hidden]);
  shapes.set(names.body('embeddings.token_type_embeddings.weight'), [config.type_vocab_size, hidden]);
  norm(names.body('embeddings.LayerNorm'));
  for (let i = 0; i < config.num_hidden_layers; i++) {
    const layer = names.layer(i);
    linear(`${layer}.attention.self.query`, hidden, hidden);
    linear(`${layer}.attention.self.key`, hidden, hidden);
    linear(`${layer}.attention.self.value`, hidden, hidden);
    linear(`${layer}.attention.output.dense`, hidden, hidden);
    norm(`${layer}.attention.output.LayerNorm`);
    linear(`${layer}.intermediate.dense`, hidden, inner);
    linear(`${layer}.output.dense`, inner, hidden);
    norm(`${layer}.output.LayerNorm`);
  }
  linear(names.body('pooler.dense'), hidden, hidden);

  if (layout.lmHead) {
    shapes.set(names.head('bias'), [vocab]);
    linear(names.head('dense'), hidden, hidden);
    norm(names.head('layer_norm'));
    if (!config.tie_word_embeddings) shapes.set(names.head('decoder.weight'), [vocab, hidden]);
  }
  return shapes;
}

/** Parameters read from a checkpoint. */
export interface LoadedParameters {
  layout: RobertaLayout;
  params: Map<string, tf.Variable>;
  /** Whether the pooler was missing from the checkpoint and was initialised here. */
  freshPooler: boolean;
  /** Checkpoint keys that are not RoBERTa parameters (task heads, for example), as stored. */
  unusedKeys: string[];
}

/**
 * Reads every RoBERTa parameter from `reader` into float32 variables keyed by the checkpoint's
 * own names, after finding its layout from where `embeddings.word_embeddings.weight` sits. A
 * stored tied `lm_head.decoder.weight` or `lm_head.decoder.bias` is checked for shape and
 * skipped, as `transformers` does. A missing pooler (a `RobertaForMaskedLM` checkpoint has none)
 * is initialised as `transformers` initialises it, from a fixed seed.
 *
 * @throws CheckpointError naming the file and tensor when a tensor is missing, has another shape
 *   than `config.json` implies, or contains a non-finite value.
 */
export function loadRobertaParameters(reader: CheckpointReader, config: RobertaConfig): LoadedParameters {
  const layout = detectLayout(reader);
  const names = new RobertaNames(layout);
  const expected = robertaParameterShapes(config, layout);
  const poolerNames = [names.body('pooler.dense.weight'), names.body('pooler.dense.bias')];
  const freshPooler = !poolerNames.some((name) => reader.has(name));

  // read and check every tensor before creating a variable, so a bad file leaks nothing
  const values = new Map<string, Float32Array>();
  const used = new Set<string>();
  for (const [name, shape] of expected) {
    if (freshPooler && poolerNames.includes(name)) continue;
    values.set(name, readChecked(reader, name, shape));
    used.add(name);
  }
  for (const alias of Object.keys(names.tiedWeights(config))) {
    if (!reader.has(alias)) continue;
    checkShape(reader, alias, reader.info(alias).shape, expected.get(names.tiedWeights(config)[alias])!);
    used.add(alias);
  }
  if (freshPooler) {
    log.debug(`${reader.path}: no pooler; initialising pooler.dense from seed ${FRESH_POOLER_SEED}`);
    const pooler = initLinear(config.hidden_size, config.hidden_size, config.initializer_range, Rng.create(FRESH_POOLER_SEED));
    values.set(poolerNames[0], pooler.weight);
    values.set(poolerNames[1], pooler.bias);
  }

  const params = new Map<string, tf.Variable>();
  for (const [name, shape] of expected) params.set(name, variableOf(values.get(name)!, shape, uniqueName(name)));

  const unusedKeys = reader.keys().filter((key) => !used.has(key) && !BUFFER_SUFFIXES.some((suffix) => key.endsWith(suffix)));
  return { layout, params, freshPooler, unusedKeys };
}

/**
 * Creates freshly initialised parameters as `RobertaPreTrainedModel._init_weights` does: linear
 * and embedding weights normal with standard deviation `initializer_range`, the padding rows of
 * the word and position embeddings zero, biases zero, LayerNorm weights one.
 */
export function initRobertaParameters(config: RobertaConfig, layout: RobertaLayout, rng: Rng): Map<string, tf.Variable> {
  const names = new RobertaNames(layout);
  const params = new Map<string, tf.Variable>();
  for (const [name, shape] of robertaParameterShapes(config, layout)) {
    const values = new Float32Array(numel(shape));
    if (/(LayerNorm|layer_norm)\.weight$/.test(name)) values.fill(1);
    else if (name.endsWith('.weight')) rng.fillNormal(values, 0, config.initializer_range);

    const paddingRow = name === names.wordEmbeddings || name === names.body('embeddings.position_embeddings.weight');
    if (paddingRow) values.fill(0, config.pad_token_id * config.hidden_size, (config.pad_token_id + 1) * config.hidden_size);
    params.set(name, variableOf(values, shape, uniqueName(name)));
  }
  return params;
}

/**
 * Copies parameters into a state dict with their Hugging Face names, as `save_pretrained`
 * writes them: tied names are not among the parameters, so each tensor appears once.
 */
export function toStateDict(params: Map<string, tf.Variable>): StateDict {
  const state: StateDict = new Map();
  for (const [name, variable] of params) {
    state.set(name, { dtype: 'F32', shape: [...variable.shape], data: Float32Array.from(variable.dataSync() as Float32Array) });
  }
  return state;
}

/**
 * Creates a trainable float32 variable that alone owns its buffer. `tf.variable` shares the
 * buffer of the tensor it starts from, and core-tensor's AdamW updates a weight in place on the
 * wasm heap only when no other tensor references its buffer, so the starting tensor is freed here.
 */
export function variableOf(values: Float32Array, shape: number[], name?: string): tf.Variable {
  const initial = tf.tensor(values, shape, 'float32');
  const variable = tf.variable(initial, true, name);
  initial.dispose();
  return variable;
}

// tfjs variable names are global to the engine, so every model's variables get a unique suffix.
let variableCounter = 0;
function uniqueName(name: string): string {
  variableCounter += 1;
  return `${name}#${variableCounter}`;
}

function detectLayout(reader: CheckpointReader): RobertaLayout {
  const suffix = 'embeddings.word_embeddings.weight';
  const candidates = reader.keys().filter((key) => key === suffix || key.endsWith(`.${suffix}`));
  if (candidates.length === 0) {
    throw new CheckpointError(
      reader.path,
      `tensor "${suffix}" is missing, so this is not a RoBERTa checkpoint`,
      'Use a folder saved by RobertaModel or RobertaForMaskedLM save_pretrained, such as microsoft/codebert-base',
    );
  }

  // the shortest prefix is the model's own body ("roberta." rather than "x.roberta.")
  const bodyPrefix = candidates.map((key) => key.slice(0, -suffix.length)).sort((a, b) => a.length - b.length)[0];
  const headPrefix = bodyPrefix.endsWith('roberta.') ? bodyPrefix.slice(0, -'roberta.'.length) : bodyPrefix;
  return { bodyPrefix, headPrefix, lmHead: reader.has(`${headPrefix}lm_head.dense.weight`) };
}

function readChecked(reader: CheckpointReader, name: string, shape: number[]): Float32Array {
  if (!reader.has(name)) {
    throw new CheckpointError(
      reader.path,
      `tensor "${name}" is missing (shape ${formatShape(shape)})`,
      'Check that the checkpoint and config.json come from the same model',
    );
  }
  checkShape(reader, name, reader.info(name).shape, shape);

  const raw = reader.read(name);
  const values = toFloat32(raw.dtype, raw.data);
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) {
      throw new CheckpointError(reader.path, `tensor "${name}" contains a non-finite value (${values[i]}) at index ${i}`, 'Use a checkpoint saved from a healthy run');
    }
  }
  return values;
}

function checkShape(reader: CheckpointReader, name: string, actual: number[], expected: number[]): void {
  if (!sameShape(actual, expected)) {
    throw new CheckpointError(
      reader.path,
      `tensor "${name}" has shape ${formatShape(actual)} but config.json implies ${formatShape(expected)}`,
      'Check that the checkpoint and config.json come from the same model',
    );
  }
}

/** Draws a linear layer as `_init_weights` does: weight normal(0, std), bias zero. */
export function initLinear(inFeatures: number, outFeatures: number, std: number, rng: Rng): { weight: Float32Array; bias: Float32Array } {
  const weight = rng.fillNormal(new Float32Array(inFeatures * outFeatures), 0, std);
  return { weight, bias: new Float32Array(outFeatures) };
}
