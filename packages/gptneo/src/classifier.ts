/**
 * GPT-Neo with a sequence-classification head, as the original ModularEvo fine-tunes it for
 * its GPT-Neo tasks: the final hidden states are averaged over the sequence, normalised by a
 * LayerNorm without learned parameters, and passed to the MLP head of `heads.ts`.
 */
import * as fs from 'fs';
import * as path from 'path';

import * as tf from '@tensorflow/tfjs-core';

import {
  CheckpointError,
  crossEntropy,
  formatShape,
  getLogger,
  InvalidInputError,
  layerNorm,
  openCheckpoint,
  sameShape,
  toFloat32,
  type ForwardOptions,
  type LinearLayer,
  type StateDict,
} from '@modularevo/core-tensor';

import { gptNeoConfigToJson, loadGPTNeoConfig } from './config';
import { checkTokenizerVocabulary, saveModelFolder } from './folder';
import {
  CLASSIFICATION_HEAD_PREFIX,
  classificationHead,
  classificationHeadLayers,
  classificationHeadShapes,
  initClassificationHead,
} from './heads';
import { toIntMatrix, type GPTNeoInputs } from './inputs';
import { GPTNeoForCausalLM } from './model';
import { floatVariable, loadGPTNeoParameters, toStateDict } from './weights';

const log = getLogger('gptneo');

/** File of a classifier folder that names the task and its labels. */
export const TASK_FILE = 'task.json';

// The original builds nn.LayerNorm(hidden) afresh in every forward call: weight 1, bias 0, eps 1e-5.
const POOLED_LAYER_NORM_EPS = 1e-5;

/** The task a classifier was fine-tuned for, as `task.json` stores it. */
export interface ClassificationTask {
  /** Task name, for example `mathqa`. */
  task: string;
  /** Label names; the head's output i scores `labels[i]`. */
  labels: string[];
}

/** Options of {@link GPTNeoWithClassificationHead.save}. */
export interface SaveOptions {
  /** Folder whose tokenizer files are copied; defaults to the folder the base model was loaded from. */
  tokenizerFrom?: string;
  /** Replace an existing non-empty folder. */
  overwrite?: boolean;
}

/** GPT-Neo body plus the ModularEvo classification head. */
export class GPTNeoWithClassificationHead {
  /**
   * @param base - the GPT-Neo model whose body computes the hidden states (its `lm_head` is unused)
   * @param head - parameters named as {@link classificationHeadShapes} lists them
   */
  constructor(
    readonly base: GPTNeoForCausalLM,
    readonly head: Map<string, tf.Variable>,
    readonly task: ClassificationTask,
  ) {
    checkTask(task, TASK_FILE);
  }

  /**
   * Puts a freshly initialised head on `base` (see {@link initClassificationHead}).
   *
   * @throws InvalidInputError for fewer than 2 labels or duplicate label names.
   */
  static create(base: GPTNeoForCausalLM, task: ClassificationTask, uniform: () => number): GPTNeoWithClassificationHead {
    checkTask(task, 'task');
    const head = initClassificationHead(base.config.hidden_size, task.labels.length, uniform);
    return new GPTNeoWithClassificationHead(base, head, task);
  }

  /**
   * Loads a folder written by {@link save}: config, tokenizer check, base weights,
   * `classification_head.*` and `task.json`. Start a backend (`initBackend`) first.
   *
   * @throws CheckpointError when a file is missing or malformed or a head tensor has the wrong
   *   shape, MismatchError when the tokenizer does not fit the vocabulary.
   */
  static fromPretrained(dir: string): GPTNeoWithClassificationHead {
    const task = readTask(path.join(dir, TASK_FILE));
    const config = loadGPTNeoConfig(dir);
    checkTokenizerVocabulary(dir, config.vocab_size);

    const reader = openCheckpoint(dir);
    try {
      const shapes = classificationHeadShapes(config.hidden_size, task.labels.length);

      // head tensors first, so a bad head fails before the base model allocates anything
      const headValues = new Map<string, { shape: number[]; values: Float32Array }>();
      for (const [name, shape] of shapes) {
        if (!reader.has(name)) {
          throw new CheckpointError(reader.path, `tensor "${name}" is missing`, 'Save the classifier with GPTNeoWithClassificationHead.save');
        }
        const actual = reader.info(name).shape;
        if (!sameShape(actual, shape)) {
          throw new CheckpointError(
            reader.path,
            `tensor "${name}" has shape ${formatShape(actual)} but ${task.labels.length} labels in ${TASK_FILE} imply ${formatShape(shape)}`,
          );
        }
        const raw = reader.read(name);
        headValues.set(name, { shape, values: toFloat32(raw.dtype, raw.data) });
      }

      const { params, unusedKeys } = loadGPTNeoParameters(reader, config);
      const ignored = unusedKeys.filter((key) => !shapes.has(key));
      if (ignored.length > 0) log.warn(`${reader.path}: ignored ${ignored.length} unknown tensors: ${ignored.join(', ')}`);

      const head = new Map<string, tf.Variable>();
      for (const [name, { shape, values }] of headValues) head.set(name, floatVariable(values, shape));
      return new GPTNeoWithClassificationHead(new GPTNeoForCausalLM(config, params, dir), head, task);
    } finally {
      reader.close();
    }
  }

  /** Number of classes. */
  get numLabels(): number {
    return this.task.labels.length;
  }

  /**
   * Base and head parameters by Hugging Face name. Head names contain "classification", so
   * `.*classification.*` separates them.
   */
  parameters(): Map<string, tf.Variable> {
    return new Map([...this.base.params, ...this.head]);
  }

  /**
   * Linear layers that take part in classification: the q/k/v/out projections and MLP of every
   * block, then the head's three layers. `lm_head` is left out because it does not affect the
   * logits here.
   */
  linearLayers(): LinearLayer[] {
    const body = this.base.linearLayers().filter((layer) => layer.name !== 'lm_head');
    return [...body, ...classificationHeadLayers(this.base.config.hidden_size, this.numLabels)];
  }

  /**
   * Returns class logits `[batch, classes]`.
   *
   * Pooling averages the final hidden states over the real tokens only (weighted by the
   * attention mask). The original averages over every position, padding included, so its
   * output depends on how far a batch is padded; this one does not.
   *
   * @throws InvalidInputError for inputs that do not fit the model.
   */
  forward(inputs: GPTNeoInputs, options: ForwardOptions = {}): tf.Tensor2D {
    const { lastHiddenState } = this.base.transformer(inputs, options); // [batch, seq, hidden]
    const [batch, seq] = lastHiddenState.shape;

    // mean over real tokens (the transformer has checked the mask's shape and values)
    const mask =
      inputs.attentionMask === undefined
        ? tf.ones([batch, seq, 1])
        : tf.tensor3d(Float32Array.from(toIntMatrix(inputs.attentionMask, 'attention_mask').values), [batch, seq, 1]); // [batch, seq, 1]
    const summed = tf.sum(tf.mul(lastHiddenState, mask), 1); // [batch, hidden]
    const counts = tf.maximum(tf.sum(mask, 1), 1); // [batch, 1]; maximum guards an all-padding row
    const pooled = tf.div(summed, counts) as tf.Tensor2D; // [batch, hidden]

    // parameter-free layer norm, then the head
    const [ones, zeros] = [tf.ones([pooled.shape[1]]) as tf.Tensor1D, tf.zeros([pooled.shape[1]]) as tf.Tensor1D];
    const normalised = layerNorm(pooled, ones, zeros, POOLED_LAYER_NORM_EPS) as tf.Tensor2D;
    return classificationHead(this.head, normalised, this.numLabels, options);
  }

  /**
   * Mean cross-entropy of the class logits against `labels` (class indices, one per row).
   *
   * @throws InvalidInputError when the label count differs from the batch size or a label is
   *   outside [0, classes).
   */
  loss(inputs: GPTNeoInputs, labels: ArrayLike<number>, options: ForwardOptions = {}): tf.Scalar {
    return this.lossFromLogits(this.forward(inputs, options), labels);
  }

  /**
   * Mean cross-entropy of class logits `[batch, classes]` (from {@link forward}) against `labels`.
   *
   * @throws InvalidInputError as {@link loss}
   */
  lossFromLogits(logits: tf.Tensor2D, labels: ArrayLike<number>): tf.Scalar {
    const [batch, classes] = logits.shape;
    if (labels.length !== batch) throw new InvalidInputError(`Got ${labels.length} labels for a batch of ${batch} rows`);
    for (const label of Array.from(labels)) {
      if (!Number.isInteger(label) || label < 0 || label >= classes) {
        throw new InvalidInputError(`Label ${label} is outside [0, ${classes}) for the labels ${this.task.labels.join(', ')}`);
      }
    }

    return crossEntropy(logits, tf.tensor1d(Int32Array.from(labels), 'int32'));
  }

  /** Copies base and head parameters into one state dict with Hugging Face names. */
  stateDict(): StateDict {
    return new Map([...toStateDict(this.base.params), ...toStateDict(this.head)]);
  }

  /**
   * Saves a Hugging Face model folder: `config.json`, tokenizer files, `model.safetensors` with
   * the base weights and `classification_head.*`, and `task.json` with the task and labels.
   * `GPTNeoForCausalLM.from_pretrained` loads it too (it skips the head tensors).
   *
   * @throws InvalidInputError when `dir` exists and is not empty, unless `overwrite` is set.
   */
  async save(dir: string, options: SaveOptions = {}): Promise<void> {
    await saveModelFolder(dir, {
      config: gptNeoConfigToJson(this.base.config),
      state: this.stateDict(),
      tokenizerFrom: options.tokenizerFrom ?? this.base.sourceDir,
      json: { [TASK_FILE]: { task: this.task.task, labels: this.task.labels, head: CLASSIFICATION_HEAD_PREFIX } },
      overwrite: options.overwrite,
    });
    log.info(`saved ${this.task.task} classifier (${this.numLabels} labels) to ${dir}`);
  }

  /** Releases the base and head parameters. */
  dispose(): void {
    this.base.dispose();
    for (const variable of this.head.values()) variable.dispose();
  }
}

function readTask(file: string): ClassificationTask {
  if (!fs.existsSync(file)) {
    throw new CheckpointError(file, 'missing task file', 'Save the classifier with GPTNeoWithClassificationHead.save');
  }
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    throw new CheckpointError(file, `not valid JSON (${(error as Error).message})`);
  }
  const task = json as ClassificationTask;
  try {
    checkTask(task, file);
  } catch (error) {
    throw new CheckpointError(file, (error as Error).message);
  }
  return { task: task.task, labels: [...task.labels] };
}

function checkTask(task: ClassificationTask, source: string): void {
  if (task === null || typeof task !== 'object' || typeof task.task !== 'string' || task.task === '') {
    throw new InvalidInputError(`${source}: "task" must be a non-empty task name`);
  }
  if (!Array.isArray(task.labels) || task.labels.length < 2 || !task.labels.every((label) => typeof label === 'string')) {
    throw new InvalidInputError(`${source}: "labels" must list at least 2 label names`);
  }
  if (new Set(task.labels).size !== task.labels.length) {
    throw new InvalidInputError(`${source}: "labels" contains duplicates`);
  }
}
