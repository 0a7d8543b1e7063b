import * as tf from '@tensorflow/tfjs-core';

import { crossEntropy } from '@modularevo/core-tensor';

/** Label value that `transformers` (and `torch.nn.CrossEntropyLoss`) leave out of the loss. */
export const IGNORE_INDEX = -100;

/**
 * Computes the mean cross-entropy over the labels that are not {@link IGNORE_INDEX}, as
 * `T5ForConditionalGeneration` does with `torch.nn.CrossEntropyLoss()`.
 *
 * @param logits - `[batch, seq, vocab]`
 * @param labels - `[batch, seq]` int32 token ids or -100
 */
export function crossEntropyLoss(logits: tf.Tensor3D, labels: tf.Tensor2D): tf.Scalar {
  return crossEntropy(logits, labels, { ignoreIndex: IGNORE_INDEX });
}
