import { InvalidInputError } from '@modularevo/core-tensor';

import { countNgrams } from './ngrams';
import { pythonSplit, pythonStrip } from './python-text';

/** The parts of a corpus BLEU score, as `compute_bleu` returns them. */
export interface CorpusBleu {
  /** BLEU in [0, 1]. */
  bleu: number;
  /** Modified n-gram precision of each order. */
  precisions: number[];
  brevityPenalty: number;
  /** Translation length over reference length. */
  ratio: number;
  translationLength: number;
  referenceLength: number;
}

/**
 * Computes corpus BLEU over tokenized segments as `compute_bleu` does in the tensorflow/nmt
 * `bleu.py`, which CodeXGLUE's Concode evaluator and CodeT5 copy. Matches and candidates are
 * summed over the corpus before the precisions are taken, and the reference length of a segment
 * is its shortest reference. Without smoothing a precision of 0 makes BLEU 0. With `smooth`
 * every order uses (matches + 1) / (candidates + 1) (Lin and Och 2004).
 *
 * When every translation is empty the Python code divides by zero; this returns BLEU 0.
 *
 * @param referenceCorpus - for each segment, its references as token lists
 * @param translationCorpus - for each segment, the translation as a token list
 * @throws InvalidInputError when the corpora differ in length, are empty, or every reference is empty
 */
export function computeBleu(referenceCorpus: string[][][], translationCorpus: string[][], maxOrder = 4, smooth = false): CorpusBleu {
  if (referenceCorpus.length !== translationCorpus.length) {
    throw new InvalidInputError(`BLEU got ${translationCorpus.length} translations and ${referenceCorpus.length} reference sets: pass one per segment`);
  }
  if (translationCorpus.length === 0) throw new InvalidInputError('BLEU needs at least one segment');

  // matches and candidates per order, summed over segments
  const matches = new Array<number>(maxOrder).fill(0);
  const possible = new Array<number>(maxOrder).fill(0);
  let referenceLength = 0;
  let translationLength = 0;
  translationCorpus.forEach((translation, index) => {
    const references = referenceCorpus[index];
    if (references.length === 0) throw new InvalidInputError(`BLEU segment ${index + 1} has no reference`);
    referenceLength += Math.min(...references.map((reference) => reference.length));
    translationLength += translation.length;

    // Counter | (max over references), then Counter & (min with the translation)
    const merged = new Map<string, number>();
    for (const reference of references) {
      for (const ofOrder of countNgrams(reference, maxOrder)) {
        for (const [ngram, count] of ofOrder) merged.set(ngram, Math.max(merged.get(ngram) ?? 0, count));
      }
    }
    countNgrams(translation, maxOrder).forEach((ofOrder, k) => {
      for (const [ngram, count] of ofOrder) matches[k] += Math.min(count, merged.get(ngram) ?? 0);
    });
    for (let order = 1; order <= maxOrder; order += 1) possible[order - 1] += Math.max(translation.length - order + 1, 0);
  });
  if (referenceLength === 0) {
    throw new InvalidInputError('BLEU references are all empty (the released Concode test split withholds its code): score against references with text');
  }

  const precisions = matches.map((matched, i) => {
    if (smooth) return (matched + 1) / (possible[i] + 1);
    return possible[i] > 0 ? matched / possible[i] : 0;
  });
  const geoMean = Math.min(...precisions) > 0 ? Math.exp(precisions.reduce((sum, p) => sum + (1 / maxOrder) * Math.log(p), 0)) : 0;

  // an empty translation makes Python divide by zero here; its BLEU is 0 either way
  const ratio = translationLength / referenceLength;
  let brevityPenalty = 1;
  if (ratio === 0) brevityPenalty = 0;
  else if (ratio <= 1) brevityPenalty = Math.exp(1 - 1 / ratio);
  return { bleu: geoMean * brevityPenalty, precisions, brevityPenalty, ratio, translationLength, referenceLength };
}

/**
 * Computes the Concode score of CodeXGLUE's text-to-code evaluator: corpus BLEU-4 times 100 over
 * whitespace tokens of the stripped predictions and references. Its `_bleu` helper turns
 * smoothing on, so this does too. The evaluator prints the result rounded to 2 decimals.
 *
 * @throws InvalidInputError as {@link computeBleu}
 */
export function concodeBleu(predictions: string[], references: string[]): number {
  const tokenize = (text: string): string[] => pythonSplit(pythonStrip(text));
  return 100 * computeBleu(references.map((reference) => [tokenize(reference)]), predictions.map(tokenize), 4, true).bleu;
}
