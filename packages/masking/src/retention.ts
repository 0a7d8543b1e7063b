import * as tf from '@tensorflow/tfjs-core';

import { binarize, hardtanh01 } from './binarization';
import type { RetentionLoss } from './mask-modes';
import type { MaskScores } from './scores';

/** The weight retention rate and the loss term built from it, both as scalars on the tape. */
export interface WeightRetention {
  /** Fraction of mask entries with a positive score, `mean(score > 0)`. */
  wrr: tf.Scalar;
  /** The term added to the task loss as `alpha * lossWrr`. */
  lossWrr: tf.Scalar;
}

// Float32 counts are exact only up to 2^24, and a backend may sum a tensor in one running
// float32 accumulator, where adding 1 to 2^24 has no effect. Summing in blocks keeps every
// partial count exact up to 2^24 blocks.
const BLOCK = 1 << 16;

/**
 * Computes the weight retention rate over all mask entries of `scores` and its loss term.
 * `binary`: `lossWrr = wrr`, whose gradient per entry is `hardtanh(upstream / N)` through the
 * straight-through estimator. `hardtanh`: `lossWrr = mean(clamp(score, 0, 1))`, whose gradient
 * passes only where 0 < score < 1. N is the number of entries of all masked parameters.
 *
 * Binarizing each parameter on its own equals binarizing their concatenation, because the
 * binarization and its gradient act element by element.
 */
export function weightRetention(scores: MaskScores, loss: RetentionLoss = 'binary'): WeightRetention {
  const variables = scores.variables();
  const count = scores.numEntries;

  const retained = tf.addN(variables.map((score) => blockSum(binarize(score))));
  const wrr = tf.div(retained, count) as tf.Scalar;
  if (loss === 'binary') return { wrr, lossWrr: wrr };

  const soft = tf.addN(variables.map((score) => blockSum(hardtanh01(score))));
  return { wrr, lossWrr: tf.div(soft, count) as tf.Scalar };
}

/** Sums every element of `x` in blocks of at most 2^16 elements. */
function blockSum(x: tf.Tensor): tf.Scalar {
  let flat = tf.reshape(x, [-1]); // [n]
  while (flat.shape[0] > BLOCK) {
    const rows = Math.ceil(flat.shape[0] / BLOCK);
    const padded = tf.pad(flat, [[0, rows * BLOCK - flat.shape[0]]]); // [rows * BLOCK]
    flat = tf.sum(tf.reshape(padded, [rows, BLOCK]), 1); // [rows]
  }
  return tf.sum(flat) as tf.Scalar;
}
