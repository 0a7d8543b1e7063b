/**
 * The modularization objective of CodeT5: T5 span-corruption denoising on a code corpus. Texts
 * are tokenized, joined with EOS between documents and cut into blocks. Every epoch corrupts
 * each block afresh, seeded by the corpus seed, the epoch and the block. The loss is the
 * teacher-forced cross-entropy of the target spans.
 */
import * as tf from '@tensorflow/tfjs-core';

import { InvalidInputError, createRng, getLogger, type ForwardOptions } from '@modularevo/core-tensor';
import type { CorpusOptions, ModularizationObjective, PreparedCorpus, PretrainedModel } from '@modularevo/masking';

import { CodeT5PretrainedModel } from './pretrained-model';
import { chooseSentinels } from './sentinels';
import { T5_SPAN_CORRUPTION, corruptSpans, noiseCounts, randomSpansNoiseMask, type SpanCorruptionSettings } from './span-corruption';

const log = getLogger('codet5');

/** One batch of corrupted blocks; every block of a corpus gives inputs and targets of the same lengths. */
export interface SpanCorruptionBatch {
  /** `[rows, inputLength]` encoder input ids, row-major. */
  inputIds: Int32Array;
  /** `[rows, targetLength]` target ids, row-major. */
  labels: Int32Array;
  rows: number;
  inputLength: number;
  targetLength: number;
}

/** Name of the objective, as module files and run configurations record it. */
export const SPAN_CORRUPTION = 'span-corruption';

/**
 * Creates the span-corruption objective with these settings (by default T5's: noise density
 * 0.15, mean noise span length 3). `CorpusOptions.blockSize` is the length of a block before
 * corruption; a corrupted input has `blockSize - noiseTokens + noiseSpans + 1` tokens and a
 * target `noiseTokens + noiseSpans + 1` (both end with EOS).
 */
export function createSpanCorruptionObjective(settings: SpanCorruptionSettings = T5_SPAN_CORRUPTION): ModularizationObjective<SpanCorruptionBatch> {
  return {
    name: SPAN_CORRUPTION,
    prepare: (model, texts, options) => prepareSpanCorruption(asCodeT5(model), texts, options, settings),
    loss: (model, batch, options) => spanCorruptionLoss(asCodeT5(model), batch, options),
  };
}

/** The span-corruption objective with T5's settings. */
export const spanCorruptionObjective = createSpanCorruptionObjective();

/**
 * Tokenizes `texts` with the model's tokenizer (no special tokens, EOS between documents) and
 * cuts the ids into blocks of `blockSize`, dropping the last partial block. Sentinels are the
 * tokenizer's `<extra_id_N>` tokens, or else the last ids of the vocabulary (see
 * `chooseSentinels`).
 *
 * @throws InvalidInputError for invalid options, a corpus shorter than one block, or blocks that
 *   need more than 100 sentinels
 */
export function prepareSpanCorruption(
  model: CodeT5PretrainedModel,
  texts: string[],
  options: CorpusOptions,
  settings: SpanCorruptionSettings = T5_SPAN_CORRUPTION,
): PreparedCorpus<SpanCorruptionBatch> {
  const { blockSize, batchSize } = options;
  const root = createRng(options.seed);
  positiveInteger('batchSize', batchSize);
  if (options.maxBlocks !== undefined) positiveInteger('maxBlocks', options.maxBlocks);
  const { noiseTokens, noiseSpans } = noiseCounts(blockSize, settings);

  // tokens and blocks
  const tokenizer = model.tokenizer();
  const eosId = eosIdOf(model, tokenizer.eosId);
  const sentinels = chooseSentinels(tokenizer, model.t5.config.vocab_size, noiseSpans);
  const documents = texts.map((text, index) => {
    const ids = tokenizer.encode(text, { addSpecialTokens: false });
    return Int32Array.from(index > 0 ? [eosId, ...ids] : ids); // EOS between documents
  });
  const totalTokens = documents.reduce((sum, document) => sum + document.length, 0);
  const available = Math.floor(totalTokens / blockSize);
  if (available === 0) {
    throw new InvalidInputError(
      `The corpus has ${totalTokens} tokens in ${texts.length} documents, fewer than one block of ${blockSize}: use more text or a smaller block size`,
    );
  }
  const numBlocks = Math.min(available, options.maxBlocks ?? available);
  const blocks = concatenate(documents, numBlocks * blockSize);

  const inputLength = blockSize - noiseTokens + noiseSpans + 1;
  const targetLength = noiseTokens + noiseSpans + 1;
  log.info(
    `span corruption: ${texts.length} documents, ${totalTokens} tokens, ${numBlocks} blocks of ${blockSize} ` +
      `(inputs ${inputLength} and targets ${targetLength} tokens, ${noiseSpans} sentinels from ${sentinels.source})`,
  );

  return {
    numBlocks,
    tokensPerBatch: batchSize * (inputLength + targetLength),
    batches: (epoch) => {
      positiveIntegerOrZero('epoch', epoch);
      const rng = root.fork(`${SPAN_CORRUPTION}/epoch-${epoch}`);
      const order = rng.fork('order').permutation(numBlocks);
      const batches: SpanCorruptionBatch[] = [];
      for (let start = 0; start < numBlocks; start += batchSize) {
        const rows = order.slice(start, start + batchSize);
        const batch: SpanCorruptionBatch = {
          inputIds: new Int32Array(rows.length * inputLength),
          labels: new Int32Array(rows.length * targetLength),
          rows: rows.length,
          inputLength,
          targetLength,
        };
        rows.forEach((block, row) => {
          // each block's noise depends only on the seed, the epoch and the block
          const tokens = blocks.subarray(block * blockSize, (block + 1) * blockSize);
          const noise = randomSpansNoiseMask(blockSize, settings, rng.fork(`block-${block}`));
          const { inputIds, targetIds } = corruptSpans(tokens, noise, sentinels.ids, eosId);
          batch.inputIds.set(inputIds, row * inputLength);
          batch.labels.set(targetIds, row * targetLength);
        });
        batches.push(batch);
      }
      return batches;
    },
  };
}

/**
 * Computes the mean cross-entropy of the target spans given the corrupted input, with decoder
 * inputs from `shift_right` of the targets. `options.linear` carries the masks while
 * modularizing.
 */
export function spanCorruptionLoss(model: CodeT5PretrainedModel, batch: SpanCorruptionBatch, options: ForwardOptions = {}): tf.Scalar {
  return tf.tidy(() => {
    const inputIds = tf.tensor2d(batch.inputIds, [batch.rows, batch.inputLength], 'int32');
    const labels = tf.tensor2d(batch.labels, [batch.rows, batch.targetLength], 'int32');
    return model.t5.forward({ inputIds, labels }, options).loss!;
  });
}

/** Returns the model as a CodeT5 model, or throws naming what it is. */
export function asCodeT5(model: PretrainedModel): CodeT5PretrainedModel {
  if (model instanceof CodeT5PretrainedModel) return model;
  throw new InvalidInputError(`The codet5 architecture needs a CodeT5 model loaded by it, not a ${model.architecture} model`);
}

/** Copies the first `length` ids of the documents, in order, into one array. */
function concatenate(documents: Int32Array[], length: number): Int32Array {
  const out = new Int32Array(length);
  let offset = 0;
  for (const document of documents) {
    if (offset >= length) break;
    const part = document.subarray(0, length - offset);
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function eosIdOf(model: CodeT5PretrainedModel, tokenizerEos: number | undefined): number {
  if (tokenizerEos !== undefined) return tokenizerEos;
  const eos = model.t5.config.eos_token_id;
  return Array.isArray(eos) ? eos[0] : eos;
}

function positiveInteger(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 1) throw new InvalidInputError(`${name} must be a positive integer, not ${value}`);
}

function positiveIntegerOrZero(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new InvalidInputError(`${name} must be a non-negative integer, not ${value}`);
}
