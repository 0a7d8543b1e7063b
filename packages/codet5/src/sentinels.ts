/**
 * Sentinel tokens of span corruption. T5 and the released CodeT5 tokenizers name them
 * `<extra_id_0>`, `<extra_id_1>`, ... and give `<extra_id_0>` the highest id of the vocabulary.
 * A RoBERTa-style tokenizer without them (such as a bare CodeT5 BPE vocabulary) gets the same
 * ids by position: sentinel i is `vocab_size - 1 - i`.
 */
import { InvalidInputError, getLogger } from '@modularevo/core-tensor';
import type { Tokenizer } from '@modularevo/datasets';

const log = getLogger('codet5');

/** Sentinels T5 reserves (`extra_ids=100` in `T5Tokenizer`). */
export const T5_EXTRA_IDS = 100;

/** Sentinel ids and where they come from. */
export interface Sentinels {
  /** `ids[i]` replaces the i-th noise span of a block. */
  ids: number[];
  /** `extra-id-tokens` when the tokenizer names them, `vocabulary-end` when taken by position. */
  source: 'extra-id-tokens' | 'vocabulary-end';
}

/**
 * Chooses `count` sentinel ids for a model with `vocabSize` embedding rows: the tokenizer's
 * `<extra_id_i>` tokens when it has all of them, else the last `count` ids of the model's
 * vocabulary in T5's order (sentinel i is `vocabSize - 1 - i`). Logs a warning when those last
 * ids are also ordinary tokens of the tokenizer, because inputs may then contain a sentinel id
 * as text.
 *
 * @throws InvalidInputError when `count` is not a positive integer, exceeds
 *   {@link T5_EXTRA_IDS}, or leaves no room for the special tokens (ids 0 to 4)
 */
export function chooseSentinels(tokenizer: Tokenizer, vocabSize: number, count: number): Sentinels {
  if (!Number.isSafeInteger(count) || count < 1 || count > T5_EXTRA_IDS) {
    throw new InvalidInputError(`A block needs ${count} sentinel tokens, but T5 has ${T5_EXTRA_IDS}; use shorter blocks`);
  }

  // named sentinels
  const named = Array.from({ length: count }, (_, i) => tokenizer.tokenToId(`<extra_id_${i}>`));
  if (named.every((id): id is number => id !== undefined && id < vocabSize)) return { ids: named, source: 'extra-id-tokens' };

  // sentinels by position, above the RoBERTa special tokens <s> <pad> </s> <unk> <mask>
  const lowest = vocabSize - count;
  if (lowest < 5) {
    throw new InvalidInputError(`The vocabulary of ${vocabSize} ids is too small for ${count} sentinel tokens; use shorter blocks`);
  }
  const ids = Array.from({ length: count }, (_, i) => vocabSize - 1 - i);
  if (lowest < tokenizer.vocabSize) {
    log.warn(
      `The tokenizer has no <extra_id_N> tokens, so ids ${lowest} to ${vocabSize - 1} (the end of the vocabulary, where CodeT5 keeps them) ` +
        `serve as span-corruption sentinels, although the tokenizer also uses them for text; add <extra_id_0> ... tokens to the tokenizer to avoid this`,
    );
  }
  return { ids, source: 'vocabulary-end' };
}
