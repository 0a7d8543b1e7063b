import { InvalidInputError } from '@modularevo/core-tensor';

function requirePairs(predictions: ArrayLike<number>, labels: ArrayLike<number>, metric: string): void {
  if (predictions.length !== labels.length) {
    throw new InvalidInputError(`${metric} got ${predictions.length} predictions and ${labels.length} labels: pass one prediction per label`);
  }
  if (labels.length === 0) throw new InvalidInputError(`${metric} needs at least one prediction`);
}

/** Fraction of predictions equal to their label, in [0, 1]. */
export function accuracy(predictions: ArrayLike<number>, labels: ArrayLike<number>): number {
  requirePairs(predictions, labels, 'Accuracy');
  let correct = 0;
  for (let i = 0; i < labels.length; i += 1) if (predictions[i] === labels[i]) correct += 1;
  return correct / labels.length;
}

/** Precision, recall and F1 of one class, in [0, 1]. */
export interface PrecisionRecallF1 {
  precision: number;
  recall: number;
  f1: number;
}

/**
 * Precision, recall and F1 of `positiveClass` (scikit-learn's `average="binary"`, `pos_label`),
 * with 0 where a denominator is 0 (`zero_division=0`).
 */
export function precisionRecallF1(predictions: ArrayLike<number>, labels: ArrayLike<number>, positiveClass = 1): PrecisionRecallF1 {
  requirePairs(predictions, labels, 'F1');

  let truePositives = 0;
  let falsePositives = 0;
  let falseNegatives = 0;
  for (let i = 0; i < labels.length; i += 1) {
    const predicted = predictions[i] === positiveClass;
    const actual = labels[i] === positiveClass;
    if (predicted && actual) truePositives += 1;
    else if (predicted) falsePositives += 1;
    else if (actual) falseNegatives += 1;
  }

  const precision = truePositives + falsePositives > 0 ? truePositives / (truePositives + falsePositives) : 0;
  const recall = truePositives + falseNegatives > 0 ? truePositives / (truePositives + falseNegatives) : 0;
  const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
  return { precision, recall, f1 };
}

/**
 * Unweighted mean of the per-class F1 scores (scikit-learn's `f1_score(average="macro",
 * zero_division=0)`). The classes are `classes` when given, else every class that occurs in the
 * labels or the predictions, as scikit-learn does.
 */
export function macroF1(predictions: ArrayLike<number>, labels: ArrayLike<number>, classes?: number[]): number {
  requirePairs(predictions, labels, 'Macro-F1');
  const present = classes ?? [...new Set([...Array.from(labels), ...Array.from(predictions)])].sort((a, b) => a - b);
  if (present.length === 0) throw new InvalidInputError('Macro-F1 needs at least one class');

  let total = 0;
  for (const label of present) total += precisionRecallF1(predictions, labels, label).f1;
  return total / present.length;
}
