/**
 * The parts the clone-detection and code-search models share: a CodeBERT base plus one head,
 * the folder format they save to, evaluation from predictions to metrics, and the tokenizer of
 * the base model's folder.
 */
import * as fs from 'fs';
import * as path from 'path';

import * as tf from '@tensorflow/tfjs-core';

import {
  CheckpointError,
  copyModelMetadata,
  formatShape,
  getLogger,
  InvalidInputError,
  openCheckpoint,
  Rng,
  sameShape,
  saveSafetensors,
  toFloat32,
  writeFolderAtomic,
  writeJsonAtomic,
  type ForwardOptions,
  type LinearLayer,
  type StateDict,
} from '@modularevo/core-tensor';
import { accuracy, loadTokenizer, precisionRecallF1, type SplitName, type Tokenizer } from '@modularevo/datasets';
import type { ArchitectureTask, PretrainedModel, TaskLoadOptions, TaskModel } from '@modularevo/masking';

import { maxSequenceLength } from './config';
import { TASK_HEAD_PATTERN } from './heads';
import { CodeBertModel } from './model';
import { toStateDict, variableOf } from './weights';

const log = getLogger('codebert');

/** A CodeBERT task: an `ArchitectureTask` whose examples have a class id. */
export interface CodeBertTask<Example, Batch> extends ArchitectureTask<Example, Batch> {
  /** Class id of an example, for the majority-class baseline. */
  labelOf(example: Example): number;
}

/** File of a task-model folder that names the task, its labels and settings. */
export const TASK_FILE = 'task.json';

/** Contents of `task.json`. */
export interface TaskFile {
  task: string;
  labels: string[];
  /** Tokens per sequence the model was trained with. */
  maxLength: number;
  /** The base checkpoint had no pooler and the pooler was initialised on load. */
  freshPooler: boolean;
}

/** Metrics of a binary task; the positive class is label id 1. */
export interface BinaryMetrics extends Record<string, number> {
  accuracy: number;
  precision: number;
  recall: number;
  f1: number;
}

/**
 * Scores binary predictions against labels: accuracy, and precision, recall and F1 of class 1
 * (scikit-learn's binary average, 0 where a denominator is 0), as the CodeXGLUE evaluators do.
 *
 * @throws InvalidInputError when the lengths differ or there are no predictions.
 */
export function scoreBinaryPredictions(predictions: ArrayLike<number>, labels: ArrayLike<number>): BinaryMetrics {
  return { accuracy: accuracy(predictions, labels), ...precisionRecallF1(predictions, labels, 1) };
}

/**
 * Returns `model` as a CodeBERT model.
 *
 * @throws InvalidInputError for a model of another architecture.
 */
export function requireCodeBert(model: PretrainedModel): CodeBertModel {
  if (!(model instanceof CodeBertModel)) throw new InvalidInputError(`CodeBERT tasks run on CodeBERT models, not on ${model.architecture}`);
  return model;
}

/**
 * Returns the number of tokens per sequence: `requested`, or `fallback`, cut to what the model's
 * positions allow with a warning.
 *
 * @throws InvalidInputError for a length that cannot hold `<s>`, `</s>` and one token.
 */
export function sequenceLength(base: CodeBertModel, requested: number | undefined, fallback: number, what: string): number {
  const length = requested ?? fallback;
  if (!Number.isInteger(length) || length < 3) throw new InvalidInputError(`Invalid ${what} ${length}: use an integer of 3 or more tokens`);
  const limit = maxSequenceLength(base.config);
  if (length <= limit) return length;
  log.warn(`${what} ${length} exceeds the ${limit} tokens the model takes (max_position_embeddings ${base.config.max_position_embeddings}); using ${limit}`);
  return limit;
}

const tokenizers = new Map<string, Tokenizer>();

/**
 * Returns the tokenizer in the base model's folder, loaded once per folder.
 *
 * @throws InvalidInputError for a model not loaded from a folder.
 */
export function tokenizerOf(base: CodeBertModel): Tokenizer {
  if (!base.sourceDir) throw new InvalidInputError('The base model was not loaded from a folder, so it has no tokenizer; load it with CodeBertModel.fromPretrained');
  if (!tokenizers.has(base.sourceDir)) tokenizers.set(base.sourceDir, loadTokenizer(base.sourceDir));
  return tokenizers.get(base.sourceDir)!;
}

// Token ids by examples array, then by tokenizer folder and length: the fine-tuner batches the same
// array every epoch, so each dataset is tokenized (and warned about) once.
const encodings = new WeakMap<object, Map<string, unknown>>();

/**
 * Returns `encode()`, computed once for the same `examples` array (by identity) and `key`. Keys
 * name what the result depends on besides the examples, such as the tokenizer folder and the
 * maximum length.
 */
export function encodeOnce<T>(examples: readonly unknown[], key: string, encode: () => T): T {
  let byKey = encodings.get(examples);
  if (!byKey) encodings.set(examples, (byKey = new Map()));
  if (!byKey.has(key)) byKey.set(key, encode());
  return byKey.get(key) as T;
}

/** Pads rows on the right; the mask is 1 on real tokens. */
export function padRows(rows: readonly number[][], padId: number): { inputIds: number[][]; attentionMask: number[][] } {
  const seq = Math.max(...rows.map((row) => row.length));
  return {
    inputIds: rows.map((row) => [...row, ...new Array<number>(seq - row.length).fill(padId)]),
    attentionMask: rows.map((row) => [...new Array<number>(row.length).fill(1), ...new Array<number>(seq - row.length).fill(0)]),
  };
}

/** A CodeBERT base plus one task head, with the folder format and evaluation both tasks share. */
export abstract class CodeBertTaskModel<Batch extends { labels: number[] }> implements TaskModel<Batch> {
  /**
   * @param task - task name (`clone`, `search`)
   * @param base - the encoder
   * @param head - head parameters, named as `headLayers` lists them
   * @param labels - class names by id
   * @param maxLength - tokens per sequence used when batching
   */
  constructor(
    readonly task: string,
    readonly base: CodeBertModel,
    readonly head: Map<string, tf.Variable>,
    readonly labels: string[],
    readonly maxLength: number,
  ) {}

  /** Mean training loss of one batch. */
  abstract loss(batch: Batch, options?: ForwardOptions): tf.Scalar;

  /** Predicted class id of every example of the batch. */
  abstract predictBatch(batch: Batch, options?: ForwardOptions): Int32Array;

  /** Linear layers of the head, in module order. */
  abstract headLayers(): LinearLayer[];

  /**
   * Predicts every example of `batches` (dropout off) and scores the predictions with
   * {@link scoreBinaryPredictions}.
   *
   * @throws InvalidInputError when `batches` contains no example.
   */
  async evaluate(batches: Batch[], options: ForwardOptions = {}): Promise<BinaryMetrics> {
    const predictions: number[] = [];
    const labels: number[] = [];
    for (const batch of batches) {
      predictions.push(...this.predictBatch(batch, { ...options, training: false }));
      labels.push(...batch.labels);
    }
    if (labels.length === 0) throw new InvalidInputError(`Nothing to evaluate for ${this.task}: the batches contain no example`);
    return scoreBinaryPredictions(predictions, labels);
  }

  /** Base and head parameters as one state dict with Hugging Face names. */
  stateDict(): StateDict {
    return new Map([...this.base.stateDict(), ...toStateDict(this.head)]);
  }

  /**
   * Writes a model folder: `config.json`, the tokenizer files, `model.safetensors` with the base
   * (in its checkpoint layout) and the head tensors, and `task.json`. `CodeBertModel.fromPretrained`
   * and `transformers` load the base from it and skip the head.
   *
   * @throws InvalidInputError when `dir` exists and is not empty, unless `overwrite` is set.
   */
  async save(dir: string, options: { overwrite?: boolean } = {}): Promise<void> {
    const file: TaskFile = { task: this.task, labels: this.labels, maxLength: this.maxLength, freshPooler: this.base.freshPooler };
    await writeFolderAtomic(
      dir,
      (temporary) => {
        if (this.base.sourceDir) copyModelMetadata(this.base.sourceDir, temporary);
        writeJsonAtomic(path.join(temporary, 'config.json'), this.base.config.raw);
        saveSafetensors(path.join(temporary, 'model.safetensors'), this.stateDict(), { format: 'pt' });
        writeJsonAtomic(path.join(temporary, TASK_FILE), file);
      },
      options,
    );
    log.info(`saved the ${this.task} model (${this.labels.length} labels) to ${dir}`);
  }

  /** Releases the base and head parameters. */
  dispose(): void {
    this.base.dispose();
    for (const variable of this.head.values()) variable.dispose();
  }
}

/**
 * Reads `task.json` of a task-model folder and checks that it belongs to `task`.
 *
 * @throws CheckpointError when the file is missing, malformed, or names another task.
 */
export function readTaskFile(dir: string, task: string): TaskFile {
  const file = path.join(dir, TASK_FILE);
  if (!fs.existsSync(file)) throw new CheckpointError(file, 'missing task file, so this is not a fine-tuned task model', `Pass a folder written by the ${task} task model's save`);
  let json: Partial<TaskFile>;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    throw new CheckpointError(file, `not valid JSON (${(error as Error).message})`);
  }
  if (json.task !== task) throw new CheckpointError(file, `names task ${JSON.stringify(json.task)}, expected "${task}"`, `Load it with the ${json.task} task`);
  if (!Array.isArray(json.labels) || json.labels.length !== 2 || !json.labels.every((label) => typeof label === 'string')) {
    throw new CheckpointError(file, '"labels" must list the 2 label names');
  }
  if (!Number.isInteger(json.maxLength) || json.maxLength! < 3) throw new CheckpointError(file, `"maxLength" must be an integer of 3 or more, got ${JSON.stringify(json.maxLength)}`);
  return { task, labels: json.labels, maxLength: json.maxLength!, freshPooler: json.freshPooler === true };
}

/**
 * Loads the base model and the head tensors of `layers` from a task-model folder.
 *
 * @throws CheckpointError when a head tensor is missing or has another shape.
 */
export function loadTaskModelParts(dir: string, file: TaskFile, layers: (hiddenSize: number) => LinearLayer[]): { base: CodeBertModel; head: Map<string, tf.Variable> } {
  const base = CodeBertModel.fromPretrained(dir, { ignore: new RegExp(`^${TASK_HEAD_PATTERN}$`), freshPooler: file.freshPooler });
  const reader = openCheckpoint(dir);
  try {
    // read and check every head tensor before creating a variable, so a bad file leaks nothing
    const values = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const layer of layers(base.config.hidden_size)) {
      for (const [name, shape] of [[layer.weight, [layer.outFeatures, layer.inFeatures]], [layer.bias!, [layer.outFeatures]]] as [string, number[]][]) {
        if (!reader.has(name)) throw new CheckpointError(reader.path, `head tensor "${name}" is missing`, `Save the ${file.task} model with its save method`);
        const stored = reader.info(name).shape;
        if (!sameShape(stored, shape)) throw new CheckpointError(reader.path, `head tensor "${name}" has shape ${formatShape(stored)}, expected ${formatShape(shape)}`);
        const raw = reader.read(name);
        values.set(name, { shape, data: toFloat32(raw.dtype, raw.data) });
      }
    }

    const head = new Map<string, tf.Variable>();
    for (const [name, { shape, data }] of values) head.set(name, variableOf(data, shape));
    return { base, head };
  } catch (error) {
    base.dispose();
    throw error;
  } finally {
    reader.close();
  }
}

/**
 * Keeps at most `maxExamples[split]` examples of each split: the first N after a shuffle seeded
 * by `seed` (default 0) and the split name, so a limit picks the same examples on every run.
 */
export function limitExamples<E>(splits: Partial<Record<SplitName, E[]>>, maxExamples: TaskLoadOptions['maxExamples'], seed = 0): Partial<Record<SplitName, E[]>> {
  const limited: Partial<Record<SplitName, E[]>> = {};
  for (const [split, examples] of Object.entries(splits) as [SplitName, E[]][]) {
    const limit = maxExamples?.[split];
    if (limit === undefined || limit >= examples.length) {
      limited[split] = examples;
      continue;
    }
    if (!Number.isInteger(limit) || limit < 1) throw new InvalidInputError(`Invalid maxExamples ${limit} for the ${split} split: use a positive integer`);
    const order = Rng.create(seed).fork(`limit-${split}`).permutation(examples.length).slice(0, limit);
    limited[split] = order.map((index) => examples[index]);
  }
  return limited;
}

/** Returns the indices of `count` examples in batch order: shuffled with `seed`, or as given. */
export function batchOrder(count: number, seed: number | undefined): number[] {
  return seed === undefined ? Array.from({ length: count }, (_, i) => i) : Rng.create(seed).fork('batches').permutation(count);
}

/**
 * Checks the batch size.
 *
 * @throws InvalidInputError for a batch size that is not a positive integer.
 */
export function checkBatchSize(batchSize: number): void {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new InvalidInputError(`Invalid batchSize ${batchSize}: use a positive integer`);
}
