/**
 * Identity of the pretrained model a module was learned on: its `config.json` content and a
 * SHA-256 hash over its weights, so a module is never applied to another model.
 */
import { createHash } from 'crypto';
import {
  formatShape,
  loadConfig,
  MismatchError,
  openCheckpoint,
  type CheckpointReader,
  type RawTensor,
  type StateDict,
} from '@modularevo/core-tensor';

import type { PretrainedModel } from './architecture';

/** Base model identity as a module file records it. */
export interface BaseModelIdentity {
  /** The base model's `config.json` content. */
  config: Record<string, unknown>;
  /** Hex SHA-256 over the weights' names, dtypes, shapes and bytes (see `hashWeights`). */
  weightsSha256: string;
}

/** A base model as masking needs it: its identity plus the shape of every parameter. */
export interface BaseModel extends BaseModelIdentity {
  parameterShapes: Map<string, number[]>;
}

/** Options of `hashWeights` and `describeBaseModel`. */
export interface WeightHashOptions {
  /**
   * Returns true for tensors to leave out, such as tied duplicates (`lm_head.weight` tied to the
   * input embedding) that one file format stores and another drops.
   */
  skip?: (name: string) => boolean;
}

// Bumped whenever the hashed byte stream changes, so old and new hashes never collide.
const HASH_VERSION = 'modularevo-weights-sha256-v1\n';

/**
 * Hashes the weights with SHA-256: for every tensor in sorted name order, its name, dtype,
 * shape and little-endian bytes. The order of tensors in the file or across shards does not
 * change the hash; any changed byte, name, dtype or shape does. Reads one tensor at a time.
 */
export function hashWeights(weights: StateDict | CheckpointReader, options: WeightHashOptions = {}): string {
  const names = (weights instanceof Map ? [...weights.keys()] : weights.keys())
    .filter((name) => !options.skip?.(name))
    .sort();
  const hash = createHash('sha256');
  hash.update(HASH_VERSION);
  for (const name of names) {
    const tensor: RawTensor = weights instanceof Map ? weights.get(name)! : weights.read(name);
    hash.update(`${JSON.stringify(name)} ${tensor.dtype} ${formatShape(tensor.shape)}\n`);
    hash.update(new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength));
  }
  return hash.digest('hex');
}

/**
 * Describes a base model from its config and weights: the weight hash and every parameter's
 * shape. Reads all tensor bytes once to hash them.
 */
export function describeBaseModel(
  config: Record<string, unknown>,
  weights: StateDict | CheckpointReader,
  options: WeightHashOptions = {},
): BaseModel {
  const parameterShapes = new Map<string, number[]>();
  const names = weights instanceof Map ? [...weights.keys()] : weights.keys();
  for (const name of names) {
    const shape = weights instanceof Map ? weights.get(name)!.shape : weights.info(name).shape;
    parameterShapes.set(name, [...shape]);
  }
  return { config, weightsSha256: hashWeights(weights, options), parameterShapes };
}

/**
 * Describes a loaded model for module files. The identity is its `config.json` content and the
 * hash of its `stateDict()`, which has canonical names only, so `model.safetensors` and a
 * `pytorch_model.bin` with tied duplicates give the same hash. The shapes cover every parameter
 * and every linear layer's weight and bias, so a mask on a tied name (GPT-Neo's `lm_head.weight`,
 * RoBERTa's `lm_head.decoder.weight` and `lm_head.decoder.bias`) passes the shape check. Every
 * generic workflow (modularizer, fine-tuner, cost) identifies a base model this way.
 */
export function describePretrainedModel(model: PretrainedModel, state: StateDict = model.stateDict()): BaseModel {
  const base = describeBaseModel(model.configJson, state);
  for (const layer of model.linearLayers()) {
    if (!base.parameterShapes.has(layer.weight)) base.parameterShapes.set(layer.weight, [layer.outFeatures, layer.inFeatures]);
    if (layer.bias !== undefined && !base.parameterShapes.has(layer.bias)) base.parameterShapes.set(layer.bias, [layer.outFeatures]);
  }
  return base;
}

/**
 * Describes the base model in a Hugging Face model folder: `config.json` and the weights
 * `openCheckpoint` picks (`model.safetensors` first, then sharded or `pytorch_model.bin`).
 * Throws a CheckpointError when the folder, its config or its weights cannot be read.
 */
export function describeBaseModelFolder(dir: string, options: WeightHashOptions = {}): BaseModel {
  const config = loadConfig(dir);
  const reader = openCheckpoint(dir);
  try {
    return describeBaseModel(config, reader, options);
  } finally {
    reader.close();
  }
}

/**
 * Throws a MismatchError unless both identities have the same weight hash. `subject` names what
 * was checked (for example the module folder) in the message.
 */
export function checkSameBaseModel(subject: string, recorded: BaseModelIdentity, actual: BaseModelIdentity): void {
  if (recorded.weightsSha256 === actual.weightsSha256) return;
  throw new MismatchError(
    `${subject} was learned on a base model with weights SHA-256 ${recorded.weightsSha256}, but the given base model has ${actual.weightsSha256}; ` +
      `load the base model it was learned on (its config.json is stored in module.json) or learn a new module on this one`,
  );
}

/**
 * Throws a MismatchError when a masked parameter is missing from the base model or has another
 * shape there. `subject` names the module in the message.
 */
export function checkParametersInBase(
  subject: string,
  parameters: Iterable<{ name: string; shape: readonly number[] }>,
  base: BaseModel,
): void {
  for (const { name, shape } of parameters) {
    const baseShape = base.parameterShapes.get(name);
    if (!baseShape) {
      throw new MismatchError(`${subject} has a mask for "${name}", but the base model has no such parameter; use the base model the module was learned on`);
    }
    if (baseShape.length !== shape.length || baseShape.some((size, i) => size !== shape[i])) {
      throw new MismatchError(
        `${subject} has a mask of shape ${formatShape(shape)} for "${name}", but the base model's parameter has shape ${formatShape(baseShape)}; use the base model the module was learned on`,
      );
    }
  }
}
