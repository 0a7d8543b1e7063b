/**
 * The masked language-modelling objective that modularization trains CodeBERT masks with, as
 * `DataCollatorForLanguageModeling(mlm_probability=0.15)` and `RobertaForMaskedLM` compute it.
 * 15% of the real tokens are chosen, never special tokens or padding. Of those, 80% become
 * `<mask>`, 10% a random token and 10% stay. The loss is the mean cross-entropy at the chosen
 * positions, whose labels are the original ids (-100 elsewhere).
 */
import * as tf from '@tensorflow/tfjs-core';

import { CheckpointError, crossEntropy, embedding, getLogger, InvalidInputError, Rng, type ForwardOptions } from '@modularevo/core-tensor';
import { encodeTexts, loadTokenizer, type Tokenizer } from '@modularevo/datasets';
import type { CorpusOptions, ModularizationObjective, PreparedCorpus, PretrainedModel } from '@modularevo/masking';

import { maxSequenceLength } from './config';
import { CodeBertModel } from './model';

const log = getLogger('codebert');

/** Label value that the loss skips, as PyTorch's `CrossEntropyLoss(ignore_index=-100)`. */
export const IGNORE_INDEX = -100;

/** Share of real tokens chosen for prediction (`mlm_probability`). */
export const MLM_PROBABILITY = 0.15;

/** One batch of the masked-LM objective, right-padded. */
export interface MaskedLMBatch {
  /** Ids after masking `[batch, seq]`. */
  inputIds: number[][];
  attentionMask: number[][];
  /** Original ids at the chosen positions, -100 elsewhere, `[batch, seq]`. */
  labels: number[][];
}

/** Token ids the masking needs from a tokenizer. */
export interface MaskingVocabulary {
  maskId: number;
  padId: number;
  /** Number of ids random replacements draw from (`len(tokenizer)`). */
  vocabSize: number;
  /** Ids never chosen: `<s>`, `</s>`, `<pad>`, `<unk>`, `<mask>` (`all_special_ids`). */
  specialIds: ReadonlySet<number>;
}

/** Options of {@link maskTokens}. */
export interface MaskTokensOptions {
  /** Share of real tokens chosen (default 0.15). */
  mlmProbability?: number;
}

/**
 * Masks token rows for masked language modelling. Each real token is chosen with probability
 * `mlmProbability`. A chosen token becomes `<mask>` with probability 0.8, a uniformly random id
 * with probability 0.1, and stays itself otherwise. Labels are the original id at chosen
 * positions and -100 elsewhere. The same `rng` state gives the same result.
 *
 * @throws InvalidInputError for a probability outside [0, 1].
 */
export function maskTokens(rows: readonly number[][], vocabulary: MaskingVocabulary, rng: Rng, options: MaskTokensOptions = {}): { inputIds: number[][]; labels: number[][] } {
  const probability = options.mlmProbability ?? MLM_PROBABILITY;
  if (!(probability >= 0 && probability <= 1)) throw new InvalidInputError(`Invalid mlm probability ${probability}: use a number from 0 to 1`);

  const inputIds: number[][] = [];
  const labels: number[][] = [];
  for (const row of rows) {
    const masked = [...row];
    const label = new Array<number>(row.length).fill(IGNORE_INDEX);
    row.forEach((id, t) => {
      if (vocabulary.specialIds.has(id) || rng.uniform() >= probability) return;
      label[t] = id;
      const choice = rng.uniform();
      if (choice < 0.8) masked[t] = vocabulary.maskId;
      else if (choice < 0.9) masked[t] = rng.int(vocabulary.vocabSize);
    });
    inputIds.push(masked);
    labels.push(label);
  }
  return { inputIds, labels };
}

/** Pads masked rows on the right into a batch; labels are -100 at padding. */
export function collateMaskedLM(inputIds: number[][], labels: number[][], padId: number): MaskedLMBatch {
  const seq = Math.max(...inputIds.map((row) => row.length));
  const pad = (row: number[], value: number) => [...row, ...new Array<number>(seq - row.length).fill(value)];
  return {
    inputIds: inputIds.map((row) => pad(row, padId)),
    attentionMask: inputIds.map((row) => pad(new Array<number>(row.length).fill(1), 0)),
    labels: labels.map((row) => pad(row, IGNORE_INDEX)),
  };
}

/**
 * Runs the model on a batch and returns the masked-LM loss: the mean cross-entropy over the
 * positions whose label is not -100. The head runs on those positions only, which gives the
 * loss of `RobertaForMaskedLM` without computing the logits the loss ignores. A batch without any
 * chosen position gives 0 (PyTorch would give NaN), connected to the weights so that gradients
 * exist and are zero.
 *
 * @throws MismatchError when the model has no `lm_head`; InvalidInputError for labels that do not fit.
 */
export function maskedLMLoss(model: CodeBertModel, batch: MaskedLMBatch, options: ForwardOptions = {}): tf.Scalar {
  const { lastHiddenState } = model.encode(batch, options);
  const [size, seq, hidden] = lastHiddenState.shape;
  const { positions, targets } = chosenPositions(batch.labels, size, seq);
  if (positions.length === 0) return tf.mul(tf.sum(lastHiddenState), 0) as tf.Scalar;

  // embedding() keeps only the positions for the backward pass, where tf.gather keeps the hidden states too
  const rows = embedding(tf.reshape(lastHiddenState, [size * seq, hidden]), tf.tensor1d(positions, 'int32')); // [chosen, hidden]
  const logits = model.lmHead(rows, options); // [chosen, vocab]
  return crossEntropy(logits, tf.tensor1d(targets, 'int32'));
}

/** Result of {@link evaluateMaskedLM}. */
export interface MaskedLMEvaluation {
  /** Mean cross-entropy per chosen token, in nats. */
  loss: number;
  /** Share of chosen tokens whose top logit is the original id. */
  accuracy: number;
  /** Chosen tokens counted. */
  tokens: number;
}

/**
 * Evaluates masked-LM loss and accuracy over `batches`, weighting each batch by its chosen
 * tokens.
 *
 * @throws InvalidInputError when no batch has a chosen token.
 */
export function evaluateMaskedLM(model: CodeBertModel, batches: Iterable<MaskedLMBatch>, options: ForwardOptions = {}): MaskedLMEvaluation {
  let total = 0;
  let correct = 0;
  let tokens = 0;
  for (const batch of batches) {
    const [size, seq] = [batch.labels.length, batch.labels[0]?.length ?? 0];
    const { positions, targets } = chosenPositions(batch.labels, size, seq);
    if (positions.length === 0) continue;

    const { loss, predicted } = tf.tidy(() => {
      const { lastHiddenState } = model.encode(batch, options);
      const rows = tf.gather(tf.reshape(lastHiddenState, [size * seq, -1]), tf.tensor1d(positions, 'int32')); // [chosen, hidden]
      const logits = model.lmHead(rows, options); // [chosen, vocab]
      return { loss: crossEntropy(logits, tf.tensor1d(targets, 'int32')).dataSync()[0], predicted: tf.argMax(logits, -1).dataSync() };
    });
    total += loss * targets.length;
    targets.forEach((target, i) => (correct += predicted[i] === target ? 1 : 0));
    tokens += targets.length;
  }
  if (tokens === 0) throw new InvalidInputError('No masked tokens to evaluate: every batch was empty or had no chosen position');
  return { loss: total / tokens, accuracy: correct / tokens, tokens };
}

/**
 * Returns the tokenizer's ids that masking needs.
 *
 * @throws CheckpointError naming `source` when the tokenizer has no `<mask>` or `<pad>` token.
 */
export function maskingVocabulary(tokenizer: Tokenizer, source: string): MaskingVocabulary {
  if (tokenizer.maskId === undefined || tokenizer.padId === undefined) {
    throw new CheckpointError(source, 'the tokenizer has no mask or pad token', 'Use the tokenizer of a masked-LM checkpoint such as microsoft/codebert-base-mlm');
  }
  const special = [tokenizer.bosId, tokenizer.eosId, tokenizer.padId, tokenizer.unkId, tokenizer.maskId].filter((id): id is number => id !== undefined);
  return { maskId: tokenizer.maskId, padId: tokenizer.padId, vocabSize: tokenizer.vocabSize, specialIds: new Set(special) };
}

/**
 * Returns `model` as a CodeBERT model with the masked-LM head.
 *
 * @throws CheckpointError pointing to an MLM checkpoint when the model has no `lm_head`.
 */
export function requireMaskedLM(model: PretrainedModel): CodeBertModel {
  if (!(model instanceof CodeBertModel)) {
    throw new InvalidInputError(`The masked-lm objective runs on CodeBERT models, not on ${model.architecture}`);
  }
  if (!model.hasLmHead) {
    throw new CheckpointError(
      model.sourceDir ?? 'the model',
      'has no lm_head (a RobertaModel checkpoint), so it cannot compute the masked-LM loss that modularization trains on',
      'Use a RobertaForMaskedLM checkpoint such as microsoft/codebert-base-mlm',
    );
  }
  return model;
}

/** A prepared masked-LM corpus. */
export interface MaskedLMCorpus extends PreparedCorpus<MaskedLMBatch> {
  /** Number of chosen positions the loss of `batch` averages over. */
  targetTokens(batch: MaskedLMBatch): number;
}

/** Options of {@link createMaskedLMObjective}. */
export interface MaskedLMObjectiveOptions {
  /** Tokenizer to use; by default the one in the model's folder. */
  tokenizer?: Tokenizer;
  /** Share of real tokens chosen (default 0.15). */
  mlmProbability?: number;
}

/**
 * Creates the `masked-lm` objective. `prepare` encodes each text as one sequence (`<s> ... </s>`)
 * cut to `blockSize` tokens, as the original modularizer tokenizes each function with
 * truncation; it does not pack texts together. Each epoch shuffles the sequences and draws new
 * masks from `seed` and the epoch, so the same epoch always gives the same batches.
 */
export function createMaskedLMObjective(options: MaskedLMObjectiveOptions = {}): ModularizationObjective<MaskedLMBatch> {
  const tokenizers = new Map<string, Tokenizer>();
  const tokenizerOf = (model: CodeBertModel): Tokenizer => {
    if (options.tokenizer) return options.tokenizer;
    if (!model.sourceDir) throw new InvalidInputError('The model was not loaded from a folder, so it has no tokenizer: pass one to createMaskedLMObjective');
    if (!tokenizers.has(model.sourceDir)) tokenizers.set(model.sourceDir, loadTokenizer(model.sourceDir));
    return tokenizers.get(model.sourceDir)!;
  };

  return {
    name: 'masked-lm',

    prepare(model: PretrainedModel, texts: string[], corpus: CorpusOptions): MaskedLMCorpus {
      const roberta = requireMaskedLM(model);
      checkCorpusOptions(corpus);
      const tokenizer = tokenizerOf(roberta);
      const vocabulary = maskingVocabulary(tokenizer, roberta.sourceDir ?? 'tokenizer');

      // one sequence per text, cut to the block size the model's positions allow
      const limit = maxSequenceLength(roberta.config);
      if (corpus.blockSize > limit) log.warn(`blockSize ${corpus.blockSize} exceeds the ${limit} tokens the model takes; using ${limit}`);
      const maxLength = Math.min(corpus.blockSize, limit);
      let { ids } = encodeTexts(texts, tokenizer, { maxLength, datasetName: 'masked-lm corpus' });
      if (corpus.maxBlocks !== undefined) ids = ids.slice(0, corpus.maxBlocks);
      if (ids.length === 0) throw new InvalidInputError('The masked-lm corpus is empty: pass at least one text');

      const meanLength = ids.reduce((sum, row) => sum + row.length, 0) / ids.length;
      const root = Rng.create(corpus.seed);
      return {
        numBlocks: ids.length,
        tokensPerBatch: Math.round(meanLength * Math.min(corpus.batchSize, ids.length)),
        batches(epoch: number): MaskedLMBatch[] {
          const order = root.fork(`order-${epoch}`).permutation(ids.length);
          const masking = root.fork(`masking-${epoch}`);
          const batches: MaskedLMBatch[] = [];
          for (let start = 0; start < order.length; start += corpus.batchSize) {
            const rows = order.slice(start, start + corpus.batchSize).map((index) => ids[index]);
            const masked = maskTokens(rows, vocabulary, masking, { mlmProbability: options.mlmProbability });
            batches.push(collateMaskedLM(masked.inputIds, masked.labels, vocabulary.padId));
          }
          return batches;
        },
        targetTokens(batch: MaskedLMBatch): number {
          return batch.labels.reduce((count, row) => count + row.filter((label) => label !== IGNORE_INDEX).length, 0);
        },
      };
    },

    loss(model: PretrainedModel, batch: MaskedLMBatch, forward?: ForwardOptions): tf.Scalar {
      return maskedLMLoss(requireMaskedLM(model), batch, forward);
    },
  };
}

/** The `masked-lm` objective with the model folder's tokenizer and 15% masking. */
export const maskedLMObjective = createMaskedLMObjective();

function chosenPositions(labels: number[][], batch: number, seq: number): { positions: Int32Array; targets: Int32Array } {
  if (labels.length !== batch || labels.some((row) => row.length !== seq)) {
    throw new InvalidInputError(`labels must have the shape of input_ids [${batch}, ${seq}]`);
  }
  const positions: number[] = [];
  const targets: number[] = [];
  labels.forEach((row, b) =>
    row.forEach((label, t) => {
      if (label === IGNORE_INDEX) return;
      positions.push(b * seq + t);
      targets.push(label);
    }),
  );
  return { positions: Int32Array.from(positions), targets: Int32Array.from(targets) };
}

function checkCorpusOptions(corpus: CorpusOptions): void {
  for (const key of ['blockSize', 'batchSize'] as const) {
    if (!Number.isInteger(corpus[key]) || corpus[key] < 1) throw new InvalidInputError(`Invalid ${key} ${corpus[key]}: use a positive integer`);
  }
  if (corpus.maxBlocks !== undefined && !(Number.isInteger(corpus.maxBlocks) && corpus.maxBlocks >= 1)) {
    throw new InvalidInputError(`Invalid maxBlocks ${corpus.maxBlocks}: use a positive integer`);
  }
}
