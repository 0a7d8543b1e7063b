import * as tf from '@tensorflow/tfjs-core';

import { formatShape } from '../checkpoint/state-dict';
import { MismatchError } from '../errors';
import { customOp } from './custom-op';

/**
 * Computes `softmax(scores + bias)` over the last axis, for attention weights with an additive
 * mask (`bias`, for example from `paddingMask`). `bias` is a constant: it gets no gradient. The
 * gradient keeps only the probabilities, where `tf.softmax(tf.add(scores, bias))` also keeps
 * `scores` and `bias`.
 *
 * @param scores - attention scores, for example `[batch, heads, query, key]`
 * @param bias - additive mask that broadcasts to the shape of `scores`
 * @returns probabilities, the shape of `scores`
 * @throws MismatchError when `bias` does not broadcast to the shape of `scores`.
 */
export function maskedSoftmax(scores: tf.Tensor, bias: tf.Tensor): tf.Tensor {
  checkBroadcast(scores, bias);

  const forward = (save: (tensors: tf.Tensor[]) => void) => {
    const probabilities = tf.softmax(tf.add(scores, bias));
    save([probabilities]);
    return probabilities;
  };
  return customOp('maskedSoftmax', { scores }, forward, (dy, [probabilities]) => ({
    // p * (dy - sum(dy * p)) over the last axis
    scores: () => tf.mul(probabilities, tf.sub(dy, tf.sum(tf.mul(dy, probabilities), -1, true))),
  }));
}

function checkBroadcast(scores: tf.Tensor, bias: tf.Tensor): void {
  const fits =
    bias.rank <= scores.rank &&
    bias.shape.every((size, i) => size === 1 || size === scores.shape[scores.rank - bias.rank + i]);
  if (!fits) {
    throw new MismatchError(
      `maskedSoftmax: bias has shape ${formatShape(bias.shape)}, which does not broadcast to the scores' shape ${formatShape(scores.shape)}`,
    );
  }
}
