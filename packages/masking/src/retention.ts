import * as tf from '@tensorflow/tfjs-core';

import { hardtanh01 } from './binarization';
import type { RetentionLoss } from './mask-modes';
import type { MaskScores } from './scores';

/** The weight retention rate and the loss term built from it, both as scalars on the tape. */
export interface WeightRetention {
  /** Fraction of mask entries with a positive score, `mean(score > 0)`. */
  wrr: tf.Scalar;
  /** The term added to the task loss as `alpha * lossWrr`. */
  lossWrr: tf.Scalar;
}

// The wasm backend of tfjs 4.22 sums a float32 tensor in one running float32 accumulator, which
// stops growing at 2^24 when every addend is at most 1 (2^24 + 3 ones sum to 2^24). Summing in
// blocks keeps each partial sum small.
const BLOCK = 1 << 16;

/**
 * Computes the weight retention rate over all mask entries of `scores` and its loss term.
 * `binary`: `lossWrr = wrr`, whose gradient per entry is `hardtanh(upstream / N)`, as the
 * straight-through estimator gives it. `hardtanh`: `lossWrr = mean(clamp(score, 0, 1))`, whose
 * gradient passes only where 0 < score < 1. N is the number of entries of all masked parameters.
 */
export function weightRetention(scores: MaskScores, loss: RetentionLoss = 'binary'): WeightRetention {
  const variables = scores.variables();
  const count = scores.numEntries;

  const wrr = retentionRate(count)(...variables) as tf.Scalar;
  if (loss === 'binary') return { wrr, lossWrr: wrr };

  const soft = tf.addN(variables.map((score) => blockSum(hardtanh01(score))));
  return { wrr, lossWrr: tf.div(soft, count) as tf.Scalar };
}

/**
 * Counts the mask entries with a positive score, exactly (in int32 per tensor, summed on the
 * host), so `retainedEntries(scores) / scores.numEntries` is the retention rate in float64, as
 * a module saved from these scores records it.
 */
export function retainedEntries(scores: MaskScores): number {
  const counts = tf.tidy(() => tf.stack(scores.variables().map((score) => tf.sum(tf.cast(tf.greater(score, 0), 'int32')))));
  const total = (counts.dataSync() as Int32Array).reduce((sum, count) => sum + count, 0);
  counts.dispose();
  return total;
}

/**
 * Returns `mean(score > 0)` over all entries of its inputs (`count` in total), with the gradient
 * `hardtanh(dy / count)` for every entry. This equals binarizing the concatenated scores and
 * taking the mean, as the original code does, because binarization and its gradient act element
 * by element. Counting in int32 per tensor is exact and skips the float mask copies.
 */
function retentionRate(count: number): (...scores: tf.Tensor[]) => tf.Tensor {
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const scores = args.filter((arg): arg is tf.Tensor => arg instanceof tf.Tensor);

    // per-tensor counts are exact in int32, and their float32 total keeps 24 significant bits
    const retained = tf.addN(scores.map((score) => tf.cast(tf.sum(tf.cast(tf.greater(score, 0), 'int32')), 'float32')));
    return {
      value: tf.div(retained, count),
      gradFunc: (dy: tf.Tensor) => {
        const perEntry = tf.clipByValue(tf.div(dy, count), -1, 1); // scalar
        return scores.map((score) => tf.broadcastTo(perEntry, score.shape));
      },
    };
  });
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
