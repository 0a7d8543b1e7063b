import { InvalidInputError } from '@modularevo/core-tensor';

import { pythonSplit, pythonStrip } from './python-text';

/**
 * Comparison of a prediction with its reference. `strip` compares the texts without surrounding
 * whitespace, as CodeT5's `run_gen.py` does. `tokens` compares whitespace-split tokens, as
 * CodeXGLUE's Concode evaluator does. `exact` compares the strings as they are.
 */
export type ExactMatchMode = 'strip' | 'tokens' | 'exact';

/** Fraction of predictions equal to their reference, in [0, 1]. Throws `InvalidInputError` for unequal or empty lists. */
export function exactMatch(predictions: string[], references: string[], mode: ExactMatchMode = 'strip'): number {
  if (predictions.length !== references.length) {
    throw new InvalidInputError(`Exact match got ${predictions.length} predictions and ${references.length} references: pass one per example`);
  }
  if (predictions.length === 0) throw new InvalidInputError('Exact match needs at least one prediction');

  const same = (a: string, b: string): boolean => {
    if (mode === 'exact') return a === b;
    if (mode === 'strip') return pythonStrip(a) === pythonStrip(b);
    return pythonSplit(a).join(' ') === pythonSplit(b).join(' ');
  };
  let matches = 0;
  predictions.forEach((prediction, i) => {
    if (same(prediction, references[i])) matches += 1;
  });
  return matches / predictions.length;
}
