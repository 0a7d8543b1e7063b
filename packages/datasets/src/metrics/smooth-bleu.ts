import { InvalidInputError } from '@modularevo/core-tensor';

import { countNgrams } from './ngrams';
import { pythonSplit, pythonStrip, splitPunctuation } from './python-text';

/** Python's `sys.float_info.min`, which `smooth_bleu.py` adds inside every logarithm. */
const FLOAT_MIN = 2.2250738585072014e-308;

const MAX_ORDER = 4;

// NIST mteval-v11a tokenization as smooth_bleu.py copies it: punctuation, then periods and
// commas unless next to a digit, then a dash after a digit
const NIST_PUNCTUATION: [RegExp, string][] = [
  [/([{-~[-` -&(-+:-@\/])/gu, ' $1 '],
  [/([^0-9])([.,])/gu, '$1 $2 '],
  [/([.,])([^0-9])/gu, ' $1 $2'],
  [/([0-9])(-)/gu, '$1 $2 '],
];

/** `normalize` of CodeXGLUE's `smooth_bleu.py`: the NIST mteval normalization, lower-cased, split into tokens. */
export function nistTokens(text: string): string[] {
  // language-independent part: skipped tags, end-of-line hyphenation, line joins, XML entities
  let s = text.replaceAll('<skipped>', '').replaceAll('-\n', '').replaceAll('\n', ' ');
  s = s.replaceAll('&lt;', '<').replaceAll('&gt;', '>').replaceAll('&quot;', '"').replaceAll('&amp;', '&');

  // language-dependent part
  s = ` ${s} `.toLowerCase();
  for (const [pattern, replacement] of NIST_PUNCTUATION) s = s.replace(pattern, replacement);
  return pythonSplit(s);
}

/**
 * Smoothed BLEU-4 of one hypothesis against its references, in [0, 1], exactly as `bleu()` of
 * CodeXGLUE's code-to-text `smooth_bleu.py` computes it:
 *
 * - n-gram counts are clipped by the maximum count over the references; the reference length is
 *   the shortest reference;
 * - orders 2-4 add 1 to both matches and candidates (add-one smoothing), order 1 does not, and
 *   every logarithm adds `sys.float_info.min`, so a unigram precision of 0 gives about 1e-77
 *   instead of 0;
 * - the brevity penalty is `min(0, 1 - (reflen + 1) / (testlen + 1))` in log space.
 *
 * A hypothesis shorter than 4 tokens has no candidates for the longer orders, whose smoothed
 * terms are then log(1/1) = 0. An empty hypothesis scores `exp(-reflen)`, not 0, because every
 * term is 0 and only the brevity penalty remains.
 */
export function sentenceSmoothBleu(hypothesis: string, references: string[]): number {
  if (references.length === 0) throw new InvalidInputError('Smoothed BLEU needs at least one reference per hypothesis');

  // cook_refs: reference lengths and the max count of every n-gram over the references
  const referenceTokens = references.map(nistTokens);
  const maxCounts = new Map<string, number>();
  for (const tokens of referenceTokens) {
    for (const ofOrder of countNgrams(tokens, MAX_ORDER)) {
      for (const [ngram, count] of ofOrder) maxCounts.set(ngram, Math.max(maxCounts.get(ngram) ?? 0, count));
    }
  }

  // cook_test: clipped matches and candidates per order
  const test = nistTokens(hypothesis);
  const referenceLength = Math.min(...referenceTokens.map((tokens) => tokens.length));
  const correct = new Array<number>(MAX_ORDER).fill(0);
  const guess = Array.from({ length: MAX_ORDER }, (_, k) => Math.max(test.length - k, 0));
  countNgrams(test, MAX_ORDER).forEach((ofOrder, k) => {
    for (const [ngram, count] of ofOrder) correct[k] += Math.min(maxCounts.get(ngram) ?? 0, count);
  });

  // score_cooked with smooth=1
  let logBleu = 0;
  for (let k = 0; k < MAX_ORDER; k += 1) {
    const addSmooth = k > 0 ? 1 : 0;
    logBleu += Math.log(correct[k] + addSmooth + FLOAT_MIN) - Math.log(guess[k] + addSmooth + FLOAT_MIN);
  }
  logBleu /= MAX_ORDER;
  const brevityPenalty = Math.min(0, 1 - (referenceLength + 1) / (test.length + 1));
  return Math.exp(logBleu + brevityPenalty);
}

/**
 * Computes the code-to-text score of CodeXGLUE (and of CodeT5's `run_gen.py`): smoothed sentence
 * BLEU-4 averaged over examples, times 100. Each prediction and reference is first stripped,
 * lower-cased and split into words and single punctuation marks (`computeMaps` in
 * `smooth_bleu.py`), then scored by {@link sentenceSmoothBleu}. CodeXGLUE prints the result
 * rounded to 2 decimals.
 *
 * @param predictions - one generated text per example
 * @param references - the reference text (or texts) of each example
 * @throws InvalidInputError when the lists differ in length or are empty
 */
export function smoothBleu(predictions: string[], references: (string | string[])[]): number {
  if (predictions.length !== references.length) {
    throw new InvalidInputError(`Smoothed BLEU got ${predictions.length} predictions and ${references.length} references: pass one per example`);
  }
  if (predictions.length === 0) throw new InvalidInputError('Smoothed BLEU needs at least one prediction');

  const prepare = (text: string): string => splitPunctuation(pythonStrip(text).toLowerCase());
  let total = 0;
  predictions.forEach((prediction, index) => {
    const refs = references[index];
    total += sentenceSmoothBleu(prepare(prediction), (Array.isArray(refs) ? refs : [refs]).map(prepare));
  });
  return (total * 100) / predictions.length;
}
