import * as tf from '@tensorflow/tfjs-core';

import { InvalidInputError } from '../errors';

/**
 * Zeroes each element of `x` with probability `rate` and scales the kept ones by `1 / (1 - rate)`,
 * as `torch.nn.functional.dropout` does in training mode. The same `seed` gives the same pattern on
 * every backend because tfjs draws the random numbers in JavaScript, so a step can be replayed.
 * Give each dropout site its own seed.
 *
 * @param x - any shape
 * @param rate - drop probability in [0, 1); 0 returns `x` unchanged
 * @param seed - seed of the drop pattern
 * @throws InvalidInputError when `rate` is outside [0, 1).
 */
export function dropout(x: tf.Tensor, rate: number, seed: number): tf.Tensor {
  if (!(rate >= 0 && rate < 1)) {
    throw new InvalidInputError(`Invalid dropout rate ${rate}: use a probability in [0, 1)`);
  }
  if (rate === 0) return x;
  return tf.dropout(x, rate, undefined, seed);
}
