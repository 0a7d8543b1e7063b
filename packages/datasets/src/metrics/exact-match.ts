import { InvalidInputError } from '@modularevo/core-tensor';

import { pythonSplit, pythonStrip } from './python-text';

/**
 * How predictions are compared: `strip` compares the texts without surrounding whitespace
 * (CodeT5's `run_gen.py`); `tokens` compares whitespace-split tokens (CodeXGLUE's Concode
 * evaluator); `exact` compares the strings as they are.
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
