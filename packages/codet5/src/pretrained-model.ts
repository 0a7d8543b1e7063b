/**
 * A CodeT5 checkpoint for the generic machinery (`PretrainedModel` of `@modularevo/masking`):
 * the T5 model, the folder it came from and its tokenizer.
 */
import * as fs from 'fs';
import * as path from 'path';

import * as tf from '@tensorflow/tfjs-core';

import {
  CONFIG_NAME,
  MODEL_METADATA_FILES,
  MismatchError,
  InvalidInputError,
  formatShape,
  sameShape,
  toFloat32,
  writeJsonAtomic,
  type LinearLayer,
  type StateDict,
} from '@modularevo/core-tensor';
import { loadTokenizer, type Tokenizer } from '@modularevo/datasets';
import type { PretrainedModel } from '@modularevo/masking';

import { t5ConfigToJson } from './config';
import { T5ForConditionalGeneration } from './model';
import { resolveT5ParameterName, saveT5Folder } from './weights';

/** Name of the CodeT5 architecture, as `--arch` takes it. */
export const CODET5_ARCHITECTURE = 'codet5';

const FLOAT_DTYPES = ['F32', 'F16', 'BF16', 'F64'];

/** Options of {@link CodeT5PretrainedModel.save}. */
export interface CodeT5SaveOptions {
  /** Replace a folder that exists and is not empty. */
  overwrite?: boolean;
  /** Further JSON files by name (such as `task.json`), written into the same folder. */
  json?: Record<string, unknown>;
}

/** A `T5ForConditionalGeneration` with its source folder and tokenizer. */
export class CodeT5PretrainedModel implements PretrainedModel {
  readonly architecture = CODET5_ARCHITECTURE;
  readonly configJson: Record<string, unknown>;
  private loadedTokenizer: Tokenizer | undefined;

  /**
   * @param t5 - the model, which this object owns from now on ({@link dispose} releases it)
   * @param sourceDir - folder whose tokenizer and generation files travel with the model
   * @param tokenizer - the tokenizer, when it does not come from `sourceDir`
   */
  constructor(
    readonly t5: T5ForConditionalGeneration,
    readonly sourceDir?: string,
    tokenizer?: Tokenizer,
  ) {
    this.configJson = t5ConfigToJson(t5.config, t5.configJson);
    this.loadedTokenizer = tokenizer;
  }

  /**
   * Loads a Hugging Face model folder (`config.json` with `model_type` `t5`, the weights, and
   * the tokenizer files, read when first needed). Start a backend (`initBackend`) first.
   *
   * @throws CheckpointError when the config or weights are missing or invalid
   */
  static load(dir: string): CodeT5PretrainedModel {
    return new CodeT5PretrainedModel(T5ForConditionalGeneration.fromPretrained(dir), dir);
  }

  get params(): Map<string, tf.Variable> {
    return this.t5.params;
  }

  /** Returns a parameter by name, resolving the tied aliases (`lm_head.weight` is `shared.weight`). */
  parameter(name: string): tf.Variable {
    return this.t5.parameter(name);
  }

  linearLayers(): LinearLayer[] {
    return this.t5.linearLayers();
  }

  stateDict(): StateDict {
    return this.t5.stateDict();
  }

  /**
   * Returns the tokenizer, loading it from the source folder the first time.
   *
   * @throws InvalidInputError when the model has no source folder and no tokenizer was given
   * @throws CheckpointError when the folder has no tokenizer files
   * @throws MismatchError when the tokenizer produces ids beyond the model's `vocab_size`
   */
  tokenizer(): Tokenizer {
    if (this.loadedTokenizer) return this.loadedTokenizer;
    if (!this.sourceDir) {
      throw new InvalidInputError('This CodeT5 model was not loaded from a folder, so it has no tokenizer; load it with architecture.load(dir)');
    }

    const tokenizer = loadTokenizer(this.sourceDir);
    const vocabSize = this.t5.config.vocab_size;
    if (tokenizer.vocabSize > vocabSize) {
      throw new MismatchError(
        `The tokenizer in ${this.sourceDir} has ${tokenizer.vocabSize} tokens but the model's vocab_size is ${vocabSize}; use the tokenizer saved with this model`,
      );
    }
    this.loadedTokenizer = tokenizer;
    return tokenizer;
  }

  /**
   * Overwrites parameters from `state`, by Hugging Face name or tied alias (`lm_head.weight`,
   * `encoder.embed_tokens.weight` set `shared.weight`). Names absent from `state` keep their
   * values. Every entry is checked before any parameter changes.
   *
   * @throws MismatchError naming the tensor for an unknown name, another shape, a non-float
   *   dtype, or two tied names with different values
   */
  assign(state: StateDict): void {
    const updates = new Map<string, { name: string; values: Float32Array }>();
    for (const [name, tensor] of state) {
      const target = resolveT5ParameterName(this.t5.config, name);
      const variable = this.t5.params.get(target);
      if (!variable) throw new MismatchError(`Cannot assign "${name}": the CodeT5 model has no such parameter`);
      if (!sameShape(tensor.shape, variable.shape)) {
        throw new MismatchError(`Cannot assign "${name}" of shape ${formatShape(tensor.shape)}: the parameter "${target}" has shape ${formatShape(variable.shape)}`);
      }
      if (!FLOAT_DTYPES.includes(tensor.dtype)) {
        throw new MismatchError(`Cannot assign "${name}": its dtype ${tensor.dtype} is not a float dtype (${FLOAT_DTYPES.join(', ')})`);
      }

      // tied names must agree, since they set one tensor
      const values = toFloat32(tensor.dtype, tensor.data);
      const earlier = updates.get(target);
      if (earlier && !sameValues(earlier.values, values)) {
        throw new MismatchError(`"${earlier.name}" and "${name}" both set "${target}" (tied weights) but hold different values; give one of them`);
      }
      updates.set(target, { name, values });
    }

    for (const [target, { values }] of updates) {
      const variable = this.t5.params.get(target)!;
      tf.tidy(() => variable.assign(tf.tensor(values, variable.shape, 'float32')));
    }
  }

  /**
   * Writes a Hugging Face model folder: `config.json`, `model.safetensors`, the tokenizer and
   * generation files of the source folder, and the files of `options.json`. The folder appears
   * only when complete.
   *
   * @throws InvalidInputError when `dir` exists and is not empty, unless `overwrite` is set
   */
  async save(dir: string, options: CodeT5SaveOptions = {}): Promise<void> {
    await saveT5Folder(dir, this.t5.config, this.stateDict(), {
      originalJson: this.t5.configJson,
      overwrite: options.overwrite,
      addFiles: (folder) => {
        if (this.sourceDir) copyMetadataFiles(this.sourceDir, folder);
        for (const [name, value] of Object.entries(options.json ?? {})) writeJsonAtomic(path.join(folder, name), value);
      },
    });
  }

  /** Releases every parameter. */
  dispose(): void {
    this.t5.dispose();
  }
}

/** Copies the tokenizer and generation files of `from` that exist into `to` (not `config.json`). */
function copyMetadataFiles(from: string, to: string): void {
  for (const name of MODEL_METADATA_FILES) {
    const source = path.join(from, name);
    if (name !== CONFIG_NAME && fs.existsSync(source)) fs.copyFileSync(source, path.join(to, name));
  }
}

function sameValues(a: Float32Array, b: Float32Array): boolean {
  return a.length === b.length && a.every((value, i) => Object.is(value, b[i]) || value === b[i]);
}
