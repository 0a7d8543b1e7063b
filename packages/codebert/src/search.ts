/**
 * Code search on CoSQA as CodeXGLUE's NL-code-search-WebQuery defines it in
 * `nl_code_search/code/models.py`, the model ModularEvo fine-tunes CodeBERT with. The query and
 * the code are encoded separately, and their pooler outputs `q` and `c` go through an MLP over
 * `[q, c, q - c, q * c]`. A sigmoid gives the probability that the code matches the query,
 * trained with binary cross-entropy. Accuracy is the primary metric.
 */
import * as tf from '@tensorflow/tfjs-core';

import { getLogger, InvalidInputError, Rng, type ForwardOptions, type LinearLayer } from '@modularevo/core-tensor';
import { encodeTexts, readTask, SEARCH, splitOf, type PairExample, type SplitFractions, type SplitName, type TaskSource } from '@modularevo/datasets';
import type { BatchOptions, PretrainedModel, TaskDataset, TaskLoadOptions } from '@modularevo/masking';

import { checkBinaryLabels, countTokens } from './clone';
import { initHead, searchHead, searchHeadLayers } from './heads';
import type { RobertaInputs } from './inputs';
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

const log = getLogger('codebert');

/** Tokens per query and per code snippet, `<s>` and `</s>` included, as CodeXGLUE's `--max_seq_length 200`. */
export const SEARCH_MAX_LENGTH = 200;

/**
 * Split fractions for CoSQA data that comes as one file (the published release has no labelled
 * test file): 60% train, 20% validation, 20% test.
 */
export const SEARCH_SPLIT_FRACTIONS: SplitFractions = { train: 0.6, validation: 0.2, test: 0.2 };

// Seed offset of the query encoder's dropout sites, far from the code encoder's seed + 0, 1, ...
const QUERY_DROPOUT_SEED_OFFSET = 50_000;

/** A padded batch of one kind of text. */
export interface EncodedRows {
  inputIds: number[][];
  attentionMask: number[][];
}

/** A batch of query-code pairs. */
export interface CodeSearchBatch {
  query: EncodedRows;
  code: EncodedRows;
  /** 1 where the code matches the query. */
  labels: number[];
}

/** CodeBERT plus the code-search MLP. */
export class CodeSearchModel extends CodeBertTaskModel<CodeSearchBatch> {
  /** Returns the logit that each code matches its query, `[pairs]`. Its `sigmoid` is the original's probability. */
  logits(batch: CodeSearchBatch, options: ForwardOptions = {}): tf.Tensor1D {
    if (batch.query.inputIds.length !== batch.labels.length || batch.code.inputIds.length !== batch.labels.length) {
      throw new InvalidInputError(`A search batch needs one query and one code row per label: got ${batch.query.inputIds.length} and ${batch.code.inputIds.length} for ${batch.labels.length}`);
    }
    const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
    const code = this.vector(batch.code, { ...options, seed }); // [pairs, hidden]
    const query = this.vector(batch.query, { ...options, seed: seed + QUERY_DROPOUT_SEED_OFFSET }); // [pairs, hidden]
    return searchHead(this.head, query, code, options);
  }

  /**
   * Mean binary cross-entropy of `sigmoid(logit)` against the labels, computed as
   * `softplus(z) - y z`, which equals PyTorch's `BCELoss` on the sigmoid without its overflow.
   */
  loss(batch: CodeSearchBatch, options: ForwardOptions = {}): tf.Scalar {
    const logits = this.logits(batch, options); // [pairs]
    const labels = tf.tensor1d(Float32Array.from(batch.labels), 'float32'); // [pairs]
    return tf.mean(tf.sub(tf.softplus(logits), tf.mul(labels, logits))) as tf.Scalar;
  }

  /** Predicts 1 where the probability exceeds 0.5 (the logit is positive), as the original. */
  predictBatch(batch: CodeSearchBatch, options: ForwardOptions = {}): Int32Array {
    return tf.tidy(() => tf.cast(tf.greater(this.logits(batch, options), 0), 'int32').dataSync() as Int32Array);
  }

  headLayers(): LinearLayer[] {
    return searchHeadLayers(this.base.config.hidden_size);
  }

  private vector(rows: RobertaInputs, options: ForwardOptions): tf.Tensor2D {
    return this.base.pool(this.base.encode(rows, options).lastHiddenState, options);
  }
}

/**
 * Splits CoSQA examples that come as one split into train, validation and test by a hash of the
 * code (`splitOf` of `@modularevo/datasets`). Every query paired with the same code lands in the
 * same split, so no code is seen in both training and test. Data with two or more splits is
 * returned as is.
 */
export function splitSingleSource(splits: Partial<Record<SplitName, PairExample[]>>, fractions: SplitFractions = SEARCH_SPLIT_FRACTIONS): Partial<Record<SplitName, PairExample[]>> {
  const present = Object.entries(splits).filter(([, examples]) => examples && examples.length > 0) as [SplitName, PairExample[]][];
  if (present.length !== 1) return splits;

  const [source, examples] = present[0];
  const result: Partial<Record<SplitName, PairExample[]>> = {};
  for (const example of examples) (result[splitOf(example.textPair, fractions)] ??= []).push(example);
  const counts = (['train', 'validation', 'test'] as const).map((split) => `${split} ${result[split]?.length ?? 0}`).join(', ');
  log.info(`search data has only a ${source} split: split its ${examples.length} pairs by a hash of the code into ${counts}`);
  return result;
}

/** Tokenizes query-code pairs into batches of `batchSize`, each text cut to `maxLength` tokens (one warning per kind of text). */
export function searchBatches(model: CodeSearchModel, examples: readonly PairExample[], options: BatchOptions): CodeSearchBatch[] {
  checkBatchSize(options.batchSize);
  const tokenizer = tokenizerOf(model.base);
  const maxLength = options.maxLength === undefined ? model.maxLength : sequenceLength(model.base, options.maxLength, SEARCH_MAX_LENGTH, 'search maxLength');
  const { queries, codes } = encodeOnce(examples, `${model.base.sourceDir}:${maxLength}`, () => {
    const where = options.split ? ` (${options.split})` : '';
    return {
      queries: encodeTexts(examples.map((example) => example.text), tokenizer, { maxLength, datasetName: `search queries${where}` }).ids,
      codes: encodeTexts(examples.map((example) => example.textPair), tokenizer, { maxLength, datasetName: `search code${where}` }).ids,
    };
  });

  const order = batchOrder(examples.length, options.shuffleSeed);
  const batches: CodeSearchBatch[] = [];
  for (let start = 0; start < order.length; start += options.batchSize) {
    const indices = order.slice(start, start + options.batchSize);
    batches.push({
      query: padRows(indices.map((i) => queries[i]), tokenizer.padId!),
      code: padRows(indices.map((i) => codes[i]), tokenizer.padId!),
      labels: indices.map((i) => examples[i].label),
    });
  }
  return batches;
}

/** CoSQA code search (`--task search`), fine-tuned on the `python` module by default. */
export const searchTask: CodeBertTask<PairExample, CodeSearchBatch> = {
  info: { name: 'search', description: SEARCH.description, primaryMetric: 'accuracy', defaultDomain: 'python' },

  /**
   * Reads CoSQA: a folder with `cosqa-train.json` / `cosqa-dev.json` / `cosqa-test.json`, or
   * `{ train, validation, test }` file paths. Data with a single split is split by
   * {@link splitSingleSource}. Throws a CheckpointError naming the file and row for a record
   * without `code`, `doc` or a 0/1 `label`.
   */
  async load(source: TaskSource, options: TaskLoadOptions = {}): Promise<TaskDataset<PairExample>> {
    const data = await readTask('search', source, { labels: options.labels });
    const splits = splitSingleSource(data.splits as Partial<Record<SplitName, PairExample[]>>);
    return { task: 'search', labels: data.labels, splits: limitExamples(splits, options.maxExamples, options.seed) };
  },

  createModel(base: PretrainedModel, data: TaskDataset<PairExample>, options: { seed: number }): CodeSearchModel {
    const encoder = requireCodeBert(base);
    checkBinaryLabels(data.labels);
    const head = initHead(searchHeadLayers(encoder.config.hidden_size), Rng.create(options.seed).fork('search-head'));
    return new CodeSearchModel('search', encoder, head, [...data.labels], sequenceLength(encoder, undefined, SEARCH_MAX_LENGTH, 'search sequence length'));
  },

  async loadModel(dir: string): Promise<CodeSearchModel> {
    const file = readTaskFile(dir, 'search');
    const { base, head } = loadTaskModelParts(dir, file, searchHeadLayers);
    return new CodeSearchModel('search', base, head, file.labels, file.maxLength);
  },

  batches(model, examples, options) {
    if (!(model instanceof CodeSearchModel)) throw new InvalidInputError('The search task batches for a model made by its createModel or loadModel');
    return searchBatches(model, examples, options);
  },

  tokens(batch: CodeSearchBatch): number {
    return countTokens(batch.query.attentionMask) + countTokens(batch.code.attentionMask);
  },

  labelOf(example: PairExample): number {
    return example.label;
  },
};
