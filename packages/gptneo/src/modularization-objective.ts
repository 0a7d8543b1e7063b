/**
 * The objective GPT-Neo modules are learned with: causal language modelling on blocks of a
 * domain corpus. Documents are tokenized without special tokens, joined with EOS between them
 * and cut into blocks of `blockSize` tokens. Every epoch visits the blocks in a new order, fixed
 * by the seed and the epoch.
 */
import * as tf from '@tensorflow/tfjs-core';

import { createRng, getLogger, InvalidInputError, type ForwardOptions } from '@modularevo/core-tensor';
import type { Tokenizer } from '@modularevo/datasets';
import type { CorpusOptions, ModularizationObjective, PreparedCorpus, PretrainedModel } from '@modularevo/masking';

import { GPTNeoForCausalLM } from './model';
import { causalLMObjective } from './objective';

const log = getLogger('gptneo');

/** Name of the objective, as module files and run configurations record it. */
export const CAUSAL_LM = 'causal-lm';

/** One batch of token blocks; every row is a full block, so no position is padding. */
export interface CausalLMBlockBatch {
  /** `[rows, blockSize]` token ids, row-major. */
  inputIds: Int32Array;
  rows: number;
  blockSize: number;
}

/** The causal language-modelling objective of GPT-Neo modularization. */
export const causalLM: ModularizationObjective<CausalLMBlockBatch> = {
  name: CAUSAL_LM,
  prepare: (model, texts, options) => prepareCausalLMCorpus(asGPTNeo(model), texts, options),
  loss: (model, batch, options) => causalLMBlockLoss(asGPTNeo(model), batch, options),
};

/**
 * Tokenizes `texts` with the model's tokenizer and cuts them into blocks (see the file comment),
 * keeping at most `options.maxBlocks` blocks from the start of the corpus.
 *
 * @throws InvalidInputError for a block size above `max_position_embeddings`, an invalid batch
 *   size, or texts shorter than one block
 */
export function prepareCausalLMCorpus(model: GPTNeoForCausalLM, texts: readonly string[], options: CorpusOptions): PreparedCorpus<CausalLMBlockBatch> {
  const { blockSize, batchSize } = options;
  checkCount('batchSize', batchSize, 1);
  checkCount('blockSize', blockSize, 2);
  if (options.maxBlocks !== undefined) checkCount('maxBlocks', options.maxBlocks, 1);
  const maxPositions = model.config.max_position_embeddings;
  if (blockSize > maxPositions) {
    throw new InvalidInputError(`Invalid blockSize ${blockSize}: the model has ${maxPositions} positions (max_position_embeddings), so use at most ${maxPositions}`);
  }

  // tokens, then blocks
  const tokenizer = model.tokenizer();
  const eos = tokenizer.eosId ?? model.config.eos_token_id;
  if (eos === null) throw new InvalidInputError(`The model in ${model.sourceDir} has no EOS token to put between documents; set eos_token_id in config.json`);
  const { blocks, totalTokens } = cutIntoBlocks(texts, tokenizer, eos, blockSize);
  const available = blocks.length / blockSize;
  if (available === 0) {
    throw new InvalidInputError(
      `The corpus has ${totalTokens} tokens in ${texts.length} documents, fewer than one block of ${blockSize}: use more text or a smaller block size`,
    );
  }
  const numBlocks = Math.min(available, options.maxBlocks ?? available);
  log.info(`causal LM corpus: ${texts.length} documents, ${totalTokens} tokens, ${numBlocks} blocks of ${blockSize}${numBlocks < available ? ` (of ${available})` : ''}`);

  const root = createRng(options.seed);
  return {
    numBlocks,
    tokensPerBatch: batchSize * blockSize,
    targetTokens: (batch) => batch.rows * (batch.blockSize - 1),
    batches: (epoch) => {
      const order = root.fork(`${CAUSAL_LM}/epoch-${epoch}`).permutation(numBlocks);
      const batches: CausalLMBlockBatch[] = [];
      for (let start = 0; start < numBlocks; start += batchSize) {
        const rows = order.slice(start, start + batchSize);
        const inputIds = new Int32Array(rows.length * blockSize); // [rows, blockSize]
        rows.forEach((block, row) => inputIds.set(blocks.subarray(block * blockSize, (block + 1) * blockSize), row * blockSize));
        batches.push({ inputIds, rows: rows.length, blockSize });
      }
      return batches;
    },
  };
}

/**
 * Mean next-token cross-entropy of a batch of blocks; every position but the last of a block is
 * a target. `options.linear` carries the masks while modularizing.
 */
export function causalLMBlockLoss(model: GPTNeoForCausalLM, batch: CausalLMBlockBatch, options: ForwardOptions = {}): tf.Scalar {
  return tf.tidy(() => {
    const inputIds = tf.tensor2d(batch.inputIds, [batch.rows, batch.blockSize], 'int32'); // [rows, blockSize]
    return causalLMObjective(model, { inputIds }, options);
  });
}

/** Returns the model as a GPT-Neo model, or throws naming what it is. */
export function asGPTNeo(model: PretrainedModel): GPTNeoForCausalLM {
  if (model instanceof GPTNeoForCausalLM) return model;
  throw new InvalidInputError(`The gptneo architecture needs a GPT-Neo model loaded by it, not a ${model.architecture} model`);
}

/**
 * Encodes each text without special tokens, puts `eos` between consecutive texts and keeps the
 * whole blocks, as `tokenizeToBlocks` of `@modularevo/datasets` does.
 */
// NOTE: tokenizeToBlocks itself is async (it streams documents), but `prepare` of the
// architecture interface is synchronous, so the same steps run here on texts in memory.
function cutIntoBlocks(texts: readonly string[], tokenizer: Tokenizer, eos: number, blockSize: number): { blocks: Int32Array; totalTokens: number } {
  const documents = texts.map((text, index) => {
    const ids = tokenizer.encode(text, { addSpecialTokens: false });
    return index > 0 ? [eos, ...ids] : ids;
  });
  const totalTokens = documents.reduce((sum, ids) => sum + ids.length, 0);
  const kept = Math.floor(totalTokens / blockSize) * blockSize;

  const blocks = new Int32Array(kept); // [numBlocks * blockSize]
  let offset = 0;
  for (const ids of documents) {
    if (offset >= kept) break;
    const part = ids.slice(0, kept - offset);
    blocks.set(part, offset);
    offset += part.length;
  }
  return { blocks, totalTokens };
}

function checkCount(name: string, value: number, minimum: number): void {
  if (!(Number.isSafeInteger(value) && value >= minimum)) {
    throw new InvalidInputError(`Invalid ${name} ${value}: use a whole number of at least ${minimum}`);
  }
}
