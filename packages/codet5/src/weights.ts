/**
 * T5 parameter names as `transformers` writes them for `T5ForConditionalGeneration`, the table
 * of names that are aliases of another parameter, and reading and writing model folders.
 */
import * as path from 'path';

import {
  CheckpointError,
  MismatchError,
  SAFE_WEIGHTS_NAME,
  formatShape,
  getLogger,
  openCheckpoint,
  sameShape,
  saveSafetensors,
  toFloat32,
  writeFolderAtomic,
  writeJsonAtomic,
  type CheckpointReader,
  type RawTensor,
  type StateDict,
} from '@modularevo/core-tensor';

import { t5ConfigToJson, type T5Config } from './config';

const log = getLogger('codet5');

/** Name and shape of one parameter, with PyTorch layout (`[out, in]` for linear weights). */
export interface T5ParameterSpec {
  name: string;
  shape: number[];
}

/**
 * A checkpoint key that names another parameter's tensor instead of a parameter of its own.
 * `transformers` ties these modules to `shared`, so a checkpoint may store them, or not.
 */
export interface WeightAlias {
  alias: string;
  target: string;
  /** Use of the alias, for messages. */
  role: string;
  /** Whether the alias exists only when `tie_word_embeddings` is true. */
  onlyWhenTied: boolean;
}

/** Every alias of `T5ForConditionalGeneration` (its `_tied_weights_keys`). */
export const T5_WEIGHT_ALIASES: readonly WeightAlias[] = [
  { alias: 'encoder.embed_tokens.weight', target: 'shared.weight', role: 'encoder input embedding', onlyWhenTied: false },
  { alias: 'decoder.embed_tokens.weight', target: 'shared.weight', role: 'decoder input embedding', onlyWhenTied: false },
  { alias: 'lm_head.weight', target: 'shared.weight', role: 'LM head', onlyWhenTied: true },
];

/** Returns the aliases that apply to a model with this config. */
export function t5WeightAliases(config: T5Config): WeightAlias[] {
  return T5_WEIGHT_ALIASES.filter((alias) => config.tie_word_embeddings || !alias.onlyWhenTied);
}

/** Returns the parameter an alias stands for (for example `lm_head.weight` to `shared.weight` when tied), or `name` itself. */
export function resolveT5ParameterName(config: T5Config, name: string): string {
  return t5WeightAliases(config).find((alias) => alias.alias === name)?.target ?? name;
}

/**
 * Lists every parameter of `T5ForConditionalGeneration` for this config, without aliases: the
 * keys `save_pretrained` writes to `model.safetensors`.
 */
export function t5ParameterSpecs(config: T5Config): T5ParameterSpec[] {
  const { d_model: model, d_ff: ff, vocab_size: vocab } = config;
  const inner = config.num_heads * config.d_kv;
  const specs: T5ParameterSpec[] = [{ name: 'shared.weight', shape: [vocab, model] }];

  const attention = (prefix: string, withBias: boolean) => {
    for (const projection of ['q', 'k', 'v']) specs.push({ name: `${prefix}.${projection}.weight`, shape: [inner, model] });
    specs.push({ name: `${prefix}.o.weight`, shape: [model, inner] });
    if (withBias) {
      specs.push({
        name: `${prefix}.relative_attention_bias.weight`,
        shape: [config.relative_attention_num_buckets, config.num_heads],
      });
    }
  };
  const feedForward = (prefix: string) => {
    const inputs = config.is_gated_act ? ['wi_0', 'wi_1'] : ['wi'];
    for (const input of inputs) specs.push({ name: `${prefix}.DenseReluDense.${input}.weight`, shape: [ff, model] });
    specs.push({ name: `${prefix}.DenseReluDense.wo.weight`, shape: [model, ff] });
  };
  const norm = (name: string) => specs.push({ name, shape: [model] });

  for (let i = 0; i < config.num_layers; i++) {
    const block = `encoder.block.${i}`;
    attention(`${block}.layer.0.SelfAttention`, i === 0);
    norm(`${block}.layer.0.layer_norm.weight`);
    feedForward(`${block}.layer.1`);
    norm(`${block}.layer.1.layer_norm.weight`);
  }
  norm('encoder.final_layer_norm.weight');

  for (let i = 0; i < config.num_decoder_layers; i++) {
    const block = `decoder.block.${i}`;
    attention(`${block}.layer.0.SelfAttention`, i === 0);
    norm(`${block}.layer.0.layer_norm.weight`);
    attention(`${block}.layer.1.EncDecAttention`, false);
    norm(`${block}.layer.1.layer_norm.weight`);
    feedForward(`${block}.layer.2`);
    norm(`${block}.layer.2.layer_norm.weight`);
  }
  norm('decoder.final_layer_norm.weight');

  if (!config.tie_word_embeddings) specs.push({ name: 'lm_head.weight', shape: [vocab, model] });
  return specs;
}

/**
 * Reads every parameter of a T5 checkpoint as float32, under its canonical name. A parameter
 * missing from the checkpoint is read from one of its aliases; every alias present must hold
 * the same tensor as its target. Keys that are neither parameters nor aliases are logged as a
 * warning and skipped, as `transformers` does.
 *
 * @throws CheckpointError naming the file when a parameter is missing, has a shape the config
 *   does not allow or a non-float dtype, or when an alias differs from its target in shape or
 *   values (the message names both tensors)
 */
export function resolveT5Weights(reader: CheckpointReader, config: T5Config): StateDict {
  const specs = t5ParameterSpecs(config);
  const aliases = t5WeightAliases(config);
  const state: StateDict = new Map();
  const sources = new Map<string, string>();

  // parameters, each from its own key or else from the first alias present
  for (const spec of specs) {
    const candidates = [spec.name, ...aliases.filter((alias) => alias.target === spec.name).map((alias) => alias.alias)];
    const source = candidates.find((name) => reader.has(name));
    if (source === undefined) throw missingParameter(reader.path, spec, candidates, config);
    state.set(spec.name, readParameter(reader, source, spec));
    sources.set(spec.name, source);
  }

  // every other alias present must be the same tensor
  for (const alias of aliases) {
    const source = sources.get(alias.target)!;
    if (alias.alias === source || !reader.has(alias.alias)) continue;
    checkAlias(reader, alias, source, state.get(alias.target)!, config);
  }

  // keys this architecture does not use
  const known = new Set([...specs.map((spec) => spec.name), ...aliases.map((alias) => alias.alias)]);
  const unused = reader.keys().filter((name) => !known.has(name));
  if (unused.length > 0) {
    log.warn(`${reader.path}: ${unused.length} tensors are not T5ForConditionalGeneration parameters and were skipped (first: "${unused[0]}")`);
  }
  return state;
}

/**
 * Reads the parameters of a model folder for a model with this config, from the first of
 * `model.safetensors`, `model.safetensors.index.json`, `pytorch_model.bin` and
 * `pytorch_model.bin.index.json` that exists (the order `from_pretrained` uses).
 *
 * @throws CheckpointError when the folder contains no weights file, a file is malformed, or the
 *   weights do not match the config (see {@link resolveT5Weights})
 */
export function loadT5Weights(dir: string, config: T5Config): StateDict {
  const reader = openCheckpoint(dir);
  try {
    return resolveT5Weights(reader, config);
  } finally {
    reader.close();
  }
}

/**
 * Writes a model folder that `transformers` loads: `config.json` and `model.safetensors` with
 * each parameter once (tied aliases are not written, as `save_pretrained` does). The folder
 * appears only when both files are complete.
 *
 * @param state - exactly the parameters {@link t5ParameterSpecs} lists, with those shapes
 * @param options - `originalJson` is the `config.json` object the model was loaded from, whose
 *   other keys are kept. `addFiles` writes further files (tokenizer, `task.json`) into the
 *   folder before it appears.
 * @throws MismatchError when `state` lacks a parameter, has an extra one, or a shape differs
 * @throws InvalidInputError when `dir` exists and is not empty, unless `overwrite` is set
 */
export async function saveT5Folder(
  dir: string,
  config: T5Config,
  state: StateDict,
  options: { originalJson?: Record<string, unknown>; overwrite?: boolean; addFiles?: (folder: string) => void } = {},
): Promise<void> {
  const specs = t5ParameterSpecs(config);
  for (const spec of specs) {
    const tensor = state.get(spec.name);
    if (!tensor) throw new MismatchError(`Cannot save T5 model to ${dir}: parameter "${spec.name}" is missing`);
    if (!sameShape(tensor.shape, spec.shape)) {
      throw new MismatchError(
        `Cannot save T5 model to ${dir}: "${spec.name}" has shape ${formatShape(tensor.shape)} but the config needs ${formatShape(spec.shape)}`,
      );
    }
  }
  if (state.size !== specs.length) {
    const expected = new Set(specs.map((spec) => spec.name));
    const extra = [...state.keys()].find((name) => !expected.has(name));
    throw new MismatchError(`Cannot save T5 model to ${dir}: "${extra}" is not a parameter of this config (aliases are not saved)`);
  }

  await writeFolderAtomic(
    dir,
    (temporary) => {
      writeJsonAtomic(path.join(temporary, 'config.json'), t5ConfigToJson(config, options.originalJson));
      saveSafetensors(path.join(temporary, SAFE_WEIGHTS_NAME), state, { format: 'pt' });
      options.addFiles?.(temporary);
    },
    { overwrite: options.overwrite },
  );
}

function missingParameter(file: string, spec: T5ParameterSpec, candidates: string[], config: T5Config): CheckpointError {
  const names = candidates.map((name) => `"${name}"`).join(' or ');
  const hint =
    spec.name === 'lm_head.weight'
      ? 'config.json sets tie_word_embeddings to false, so the checkpoint needs its own LM head; set it to true if the head is shared.weight'
      : `Check that the checkpoint matches config.json (num_layers ${config.num_layers}, num_decoder_layers ${config.num_decoder_layers}, feed_forward_proj "${config.feed_forward_proj}")`;
  return new CheckpointError(file, `parameter ${names} ${formatShape(spec.shape)} not found`, hint);
}

function readParameter(reader: CheckpointReader, name: string, spec: T5ParameterSpec): RawTensor {
  const info = reader.info(name);
  if (!['F32', 'F16', 'BF16', 'F64'].includes(info.dtype)) {
    throw new CheckpointError(reader.path, `tensor "${name}" has dtype ${info.dtype} but parameters must be F32, F16, BF16 or F64`);
  }
  if (!sameShape(info.shape, spec.shape)) {
    const role = name === spec.name ? '' : ` (read for "${spec.name}")`;
    throw new CheckpointError(
      reader.path,
      `tensor "${name}"${role} has shape ${formatShape(info.shape)} but config.json needs ${formatShape(spec.shape)}`,
      'Use the config.json that belongs to these weights',
    );
  }
  const raw = reader.read(name);
  return { dtype: 'F32', shape: spec.shape, data: toFloat32(raw.dtype, raw.data) };
}

function checkAlias(reader: CheckpointReader, alias: WeightAlias, source: string, target: RawTensor, config: T5Config): void {
  const hint =
    alias.alias === 'lm_head.weight'
      ? 'Set "tie_word_embeddings": false in config.json if the LM head is trained separately'
      : `transformers always uses ${alias.target} as the ${alias.role}; fix or remove "${alias.alias}"`;

  // shape
  const info = reader.info(alias.alias);
  if (!sameShape(info.shape, target.shape)) {
    throw new CheckpointError(
      reader.path,
      `"${alias.alias}" ${formatShape(info.shape)} is an alias of "${source}" ${formatShape(target.shape)} but has another shape`,
      hint,
    );
  }

  // values
  const raw = reader.read(alias.alias);
  const values = toFloat32(raw.dtype, raw.data);
  const expected = target.data as Float32Array;
  for (let i = 0; i < values.length; i++) {
    if (values[i] !== expected[i] && !(Number.isNaN(values[i]) && Number.isNaN(expected[i]))) {
      const tied = alias.onlyWhenTied && config.tie_word_embeddings ? ' although tie_word_embeddings is true' : '';
      throw new CheckpointError(
        reader.path,
        `"${alias.alias}" (${alias.role}) differs from "${source}" at element ${i} (${values[i]} vs ${expected[i]})${tied}`,
        hint,
      );
    }
  }
}
