/**
 * Clone detection on BigCloneBench as CodeXGLUE defines it in `code_clone/code/model.py` and
 * `run.py`, the model ModularEvo fine-tunes CodeBERT with. Both functions of a pair are encoded
 * separately, each cut to a block of 400 tokens, and the head classifies their `<s>` vectors side
 * by side as clone or not. F1 of the clone class is the primary metric.
 */
import * as tf from '@tensorflow/tfjs-core';

import { crossEntropy, InvalidInputError, Rng, type ForwardOptions, type LinearLayer } from '@modularevo/core-tensor';
import { CLONE, encodeTexts, readTask, type PairExample, type TaskSource } from '@modularevo/datasets';
import type { BatchOptions, PretrainedModel, TaskDataset, TaskLoadOptions } from '@modularevo/masking';

import { cloneHead, cloneHeadLayers, initHead } from './heads';
import {
  batchOrder,
  checkBatchSize,
  CodeBertTaskModel,
  type CodeBertTask,
  encodeOnce,
  limitExamples,
  loadTaskModelParts,
  padRows,
  readTaskFile,
  requireCodeBert,
  sequenceLength,
  tokenizerOf,
} from './task-model';

/** Tokens per function, `<s>` and `</s>` included, as CodeXGLUE's `--block_size 400`. */
export const CLONE_BLOCK_SIZE = 400;

/** A batch of function pairs. */
export interface CloneBatch {
  /** Both functions of each pair: row 2i is the first function of pair i, row 2i + 1 the second, `[2 * pairs, seq]`. */
  inputIds: number[][];
  attentionMask: number[][];
  /** Class id of each pair (1 = clone). */
  labels: number[];
}

/**
 * Collapses every run of whitespace to one space, as CodeXGLUE's `' '.join(code.split())` does
 * before tokenizing a function.
 */
export function collapseWhitespace(code: string): string {
  return code.split(/\s+/).filter((part) => part.length > 0).join(' ');
}

/** CodeBERT plus the clone-detection head. */
export class CloneDetectionModel extends CodeBertTaskModel<CloneBatch> {
  /**
   * Returns the logits `[pairs, 2]`: the `<s>` vectors of both functions side by side through
   * the head, with dropout when `options.training` is set.
   *
   * @throws InvalidInputError for a batch whose row count is odd.
   */
  logits(batch: CloneBatch, options: ForwardOptions = {}): tf.Tensor2D {
    if (batch.inputIds.length % 2 !== 0 || batch.inputIds.length / 2 !== batch.labels.length) {
      throw new InvalidInputError(`A clone batch needs two rows per pair: got ${batch.inputIds.length} rows for ${batch.labels.length} labels`);
    }
    const { lastHiddenState } = this.base.encode(batch, options); // [2 * pairs, seq, hidden]
    const [rows, , hidden] = lastHiddenState.shape;
    const first = tf.slice(lastHiddenState, [0, 0, 0], [rows, 1, hidden]); // [2 * pairs, 1, hidden]: the <s> vectors
    const pairs = tf.reshape(first, [rows / 2, 2 * hidden]) as tf.Tensor2D; // [pairs, 2 * hidden], as x.reshape(-1, 2 * hidden)
    return cloneHead(this.head, pairs, this.base.config.hidden_dropout_prob, options);
  }

  /** Mean cross-entropy of the logits against the pair labels. */
  loss(batch: CloneBatch, options: ForwardOptions = {}): tf.Scalar {
    return crossEntropy(this.logits(batch, options), tf.tensor1d(Int32Array.from(batch.labels), 'int32'));
  }

  /** Predicts clone (1) where the clone probability exceeds 0.5, which is the arg max of the logits. */
  predictBatch(batch: CloneBatch, options: ForwardOptions = {}): Int32Array {
    return tf.tidy(() => tf.argMax(this.logits(batch, options), -1).dataSync() as Int32Array);
  }

  headLayers(): LinearLayer[] {
    return cloneHeadLayers(this.base.config.hidden_size);
  }
}

/**
 * Tokenizes the pairs of `examples` into batches of `batchSize` pairs: each function with
 * collapsed whitespace, `<s> ... </s>` cut to `maxLength` tokens (one warning for the whole
 * dataset), padded on the right to the longest function of the batch.
 */
export function cloneBatches(model: CloneDetectionModel, examples: readonly PairExample[], options: BatchOptions): CloneBatch[] {
  checkBatchSize(options.batchSize);
  const tokenizer = tokenizerOf(model.base);
  const maxLength = options.maxLength === undefined ? model.maxLength : sequenceLength(model.base, options.maxLength, CLONE_BLOCK_SIZE, 'clone maxLength');

  // functions recur across pairs, so each distinct one is tokenized once
  const idsOf = encodeOnce(examples, `${model.base.sourceDir}:${maxLength}`, () => {
    const functions = [...new Set(examples.flatMap((example) => [example.text, example.textPair]))];
    const where = options.split ? ` (${options.split})` : '';
    const { ids } = encodeTexts(functions.map(collapseWhitespace), tokenizer, { maxLength, datasetName: `clone functions${where}` });
    return new Map(functions.map((text, i) => [text, ids[i]]));
  });

  const order = batchOrder(examples.length, options.shuffleSeed);
  const batches: CloneBatch[] = [];
  for (let start = 0; start < order.length; start += options.batchSize) {
    const pairs = order.slice(start, start + options.batchSize).map((index) => examples[index]);
    const rows = pairs.flatMap((pair) => [idsOf.get(pair.text)!, idsOf.get(pair.textPair)!]);
    batches.push({ ...padRows(rows, tokenizer.padId!), labels: pairs.map((pair) => pair.label) });
  }
  return batches;
}

/** BigCloneBench clone detection (`--task clone`), fine-tuned on the `java` module by default. */
export const cloneTask: CodeBertTask<PairExample, CloneBatch> = {
  info: { name: 'clone', description: CLONE.description, primaryMetric: 'f1', defaultDomain: 'java' },

  /**
   * Reads BigCloneBench in the CodeXGLUE layout: the folder with `data.jsonl` and the pair files
   * `train.txt`, `valid.txt`, `test.txt`, or `{ data, train, validation, test }` file paths.
   * Throws a CheckpointError naming the file and line for a pair that names an idx missing from
   * `data.jsonl`.
   */
  async load(source: TaskSource, options: TaskLoadOptions = {}): Promise<TaskDataset<PairExample>> {
    const data = await readTask('clone', source, { labels: options.labels });
    return { task: 'clone', labels: data.labels, splits: limitExamples(data.splits as TaskDataset<PairExample>['splits'], options.maxExamples, options.seed) };
  },

  createModel(base: PretrainedModel, data: TaskDataset<PairExample>, options: { seed: number }): CloneDetectionModel {
    const encoder = requireCodeBert(base);
    checkBinaryLabels(data.labels);
    const head = initHead(cloneHeadLayers(encoder.config.hidden_size), Rng.create(options.seed).fork('clone-head'));
    return new CloneDetectionModel('clone', encoder, head, [...data.labels], sequenceLength(encoder, undefined, CLONE_BLOCK_SIZE, 'clone block size'));
  },

  async loadModel(dir: string): Promise<CloneDetectionModel> {
    const file = readTaskFile(dir, 'clone');
    const { base, head } = loadTaskModelParts(dir, file, cloneHeadLayers);
    return new CloneDetectionModel('clone', base, head, file.labels, file.maxLength);
  },

  batches(model, examples, options) {
    return cloneBatches(asCloneModel(model), examples, options);
  },

  tokens(batch: CloneBatch): number {
    return countTokens(batch.attentionMask);
  },

  labelOf(example: PairExample): number {
    return example.label;
  },
};

/** Counts the ones of an attention mask. */
export function countTokens(mask: readonly number[][]): number {
  return mask.reduce((sum, row) => sum + row.reduce((a, b) => a + b, 0), 0);
}

/** Throws InvalidInputError unless the task has exactly two labels. */
export function checkBinaryLabels(labels: readonly string[]): void {
  if (labels.length !== 2) throw new InvalidInputError(`CodeBERT's clone and search heads score two classes, but the data has ${labels.length} labels (${labels.join(', ')})`);
}

function asCloneModel(model: unknown): CloneDetectionModel {
  if (!(model instanceof CloneDetectionModel)) throw new InvalidInputError('The clone task batches for a model made by its createModel or loadModel');
  return model;
}
