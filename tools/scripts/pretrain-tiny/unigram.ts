/**
 * The unigram baseline that a pretrained model must beat: every token predicted from its
 * frequency in the training blocks alone, without context. Counts are add-one (Laplace)
 * smoothed over the whole vocabulary, so a token that training never saw still has a finite
 * probability.
 */
import type { DomainBlocks } from './data';

/** Token counts of some training blocks. */
export interface UnigramCounts {
  counts: Float64Array;
  total: number;
}

/** Perplexity of a unigram model over the same targets that the language model is scored on. */
export interface UnigramResult {
  /** Mean negative log-likelihood per target token, in nats. */
  loss: number;
  perplexity: number;
  tokens: number;
}

/** Counts every token of `blocks` over a vocabulary of `vocabSize` ids. */
export function countUnigrams(blocks: readonly DomainBlocks[], vocabSize: number): UnigramCounts {
  const counts = new Float64Array(vocabSize);
  let total = 0;
  for (const domain of blocks) {
    for (const id of domain.ids) counts[id] += 1;
    total += domain.ids.length;
  }
  return { counts, total };
}

/**
 * Scores the unigram model on the targets of `blocks`: every token of a block but the first,
 * because the language model predicts position t + 1 from positions up to t.
 */
export function unigramPerplexity(unigrams: UnigramCounts, blocks: readonly DomainBlocks[], blockSize: number): UnigramResult {
  const vocabSize = unigrams.counts.length;
  const logDenominator = Math.log(unigrams.total + vocabSize);
  let negativeLogLikelihood = 0;
  let tokens = 0;
  for (const domain of blocks) {
    for (let i = 0; i < domain.ids.length; i++) {
      if (i % blockSize === 0) continue;
      negativeLogLikelihood += logDenominator - Math.log(unigrams.counts[domain.ids[i]] + 1);
      tokens += 1;
    }
  }
  const loss = negativeLogLikelihood / tokens;
  return { loss, perplexity: Math.exp(loss), tokens };
}
