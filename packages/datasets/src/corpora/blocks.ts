import { getLogger, InvalidInputError } from '@modularevo/core-tensor';

import type { Tokenizer } from '../tokenizer';

const log = getLogger('datasets');

/** Fixed-length token blocks for language-model training. */
export interface TokenBlocks {
  /** `[numBlocks, blockSize]` token ids, row-major. */
  data: Int32Array;
  shape: [number, number];
  /** Tokens in the concatenated corpus, separators included. */
  totalTokens: number;
  /** Tokens of the last partial block, which is dropped. */
  droppedTokens: number;
  documents: number;
}

/** A growable Int32Array, so corpora of millions of tokens need no array of numbers. */
class IdBuffer {
  private data = new Int32Array(1 << 16);
  length = 0;

  push(ids: ArrayLike<number>): void {
    if (this.length + ids.length > this.data.length) {
      let capacity = this.data.length;
      while (capacity < this.length + ids.length) capacity *= 2;
      const grown = new Int32Array(capacity);
      grown.set(this.data.subarray(0, this.length));
      this.data = grown;
    }
    this.data.set(ids, this.length);
    this.length += ids.length;
  }

  take(count: number): Int32Array {
    return this.data.slice(0, count);
  }
}

/**
 * Tokenizes documents without special tokens, joins them with the EOS id between consecutive
 * documents, and cuts the result into blocks of `blockSize` tokens, dropping the last partial
 * block. This is the `group_texts` step of transformers' `run_clm.py` plus the separator, so
 * that a block never runs two documents together unmarked.
 *
 * @param texts - documents, for example from {@link iterateCorpusTexts}
 * @param blockSize - tokens per block
 * @throws InvalidInputError when the tokenizer has no EOS token, `blockSize` is not a positive
 *   integer, or the corpus has fewer tokens than one block (the message gives both numbers)
 */
export async function tokenizeToBlocks(texts: Iterable<string> | AsyncIterable<string>, tokenizer: Tokenizer, blockSize: number): Promise<TokenBlocks> {
  if (!Number.isInteger(blockSize) || blockSize < 1) throw new InvalidInputError(`Invalid block size ${blockSize}: use a positive number of tokens`);
  const eos = tokenizer.eosId;
  if (eos === undefined) throw new InvalidInputError('The tokenizer has no EOS token to put between documents');

  const started = Date.now();
  const ids = new IdBuffer();
  let documents = 0;
  for await (const text of texts) {
    if (documents > 0) ids.push([eos]);
    ids.push(tokenizer.encode(text, { addSpecialTokens: false }));
    documents += 1;
  }

  const numBlocks = Math.floor(ids.length / blockSize);
  if (numBlocks === 0) {
    throw new InvalidInputError(`The corpus has ${ids.length} tokens in ${documents} documents, fewer than one block of ${blockSize}: use more text or a smaller block size`);
  }

  const seconds = (Date.now() - started) / 1000;
  log.info(`tokenized ${documents} documents into ${ids.length} tokens, ${numBlocks} blocks of ${blockSize} (${Math.round(ids.length / Math.max(seconds, 1e-3))} tokens/s)`);
  return {
    data: ids.take(numBlocks * blockSize),
    shape: [numBlocks, blockSize],
    totalTokens: ids.length,
    droppedTokens: ids.length - numBlocks * blockSize,
    documents,
  };
}
