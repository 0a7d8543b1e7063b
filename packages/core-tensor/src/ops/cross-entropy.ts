import * as tf from '@tensorflow/tfjs-core';

import { InvalidInputError, MismatchError } from '../errors';
import { formatShape } from '../checkpoint/state-dict';
import { lastAxis } from './shapes';

/** Options of {@link crossEntropy}. */
export interface CrossEntropyOptions {
  /** Label value whose positions are left out of the loss and its mean (PyTorch's default, -100). */
  ignoreIndex?: number;
}

/**
 * Computes the mean cross-entropy of `logits` against integer `labels` over the positions whose
 * label is not `ignoreIndex`, as `torch.nn.functional.cross_entropy` with `reduction="mean"` does.
 * When every label is ignored the loss is NaN (0 / 0), as in PyTorch, and the gradient is zero.
 *
 * The softmax is computed once and kept for the gradient `(softmax - one_hot(label)) / count`, and
 * the log-sum-exp is derived from the largest probability (`lse = max - log(p_max)`, with
 * `p_max >= 1 / vocab`), so no pass calls `exp` outside the softmax kernel. On the wasm backend of
 * tfjs 4.22 the `Exp` kernel is scalar and the softmax kernel vectorized, which makes this several
 * times faster than `logSoftmax` (bench/kernels-cross-entropy.ts measures both).
 *
 * @param logits - float32 `[..., vocab]`
 * @param labels - int32 `[...]`, values in `[0, vocab)` or `ignoreIndex`
 * @returns the loss, a float32 scalar
 * @throws MismatchError when the label shape does not match the logits without their last axis.
 * @throws InvalidInputError when labels are not int32 or a label lies outside `[0, vocab)` and is
 *   not `ignoreIndex` (the labels are read back to check this).
 */
export function crossEntropy(logits: tf.Tensor, labels: tf.Tensor, options: CrossEntropyOptions = {}): tf.Scalar {
  const ignoreIndex = options.ignoreIndex ?? -100;
  const vocab = lastAxis('crossEntropy: logits', logits);
  checkLabels(logits, labels, vocab, ignoreIndex);

  return tf.tidy(() => {
    const rows = labels.size;
    const floatLogits = logits.dtype === 'float32' ? logits : tf.cast(logits, 'float32'); // a cast to float32 copies
    const flatLogits = tf.reshape(floatLogits, [rows, vocab]) as tf.Tensor2D; // [rows, vocab]
    const flatLabels = tf.reshape(labels, [rows]); // [rows]

    // ignored rows get weight 0 and a placeholder label 0
    const valid = tf.cast(tf.notEqual(flatLabels, ignoreIndex), 'float32'); // [rows]
    const count = tf.sum(valid);
    const targets = tf.where(tf.notEqual(flatLabels, ignoreIndex), flatLabels, tf.zerosLike(flatLabels));
    const lossWeights = tf.div(valid, count); // NaN everywhere when count is 0, as PyTorch's loss
    const gradientWeights = tf.div(valid, tf.maximum(count, 1)); // [rows]

    const meanCrossEntropy = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const scores = args[0] as tf.Tensor2D;
      const save = args[1] as tf.GradSaveFunc;
      const probabilities = tf.softmax(scores); // [rows, vocab]
      const logSumExp = tf.sub(tf.max(scores, -1), tf.log(tf.max(probabilities, -1))); // [rows]
      const targetLogits = tf.reshape(tf.gather(scores, tf.reshape(targets, [rows, 1]), 1, 1), [rows]); // [rows]
      const value = tf.sum(tf.mul(tf.sub(logSumExp, targetLogits), lossWeights));
      // the gradient runs after this tidy ends, so everything it reads is saved
      save([probabilities, targets, gradientWeights]);

      // a float32 one-hot spares the int32-to-float32 copy of the whole matrix that tf.sub would make
      const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [savedProbabilities, savedTargets, savedWeights] = saved;
        const rowScale = tf.reshape(tf.mul(savedWeights, dy), [rows, 1]); // [rows, 1]
        const oneHot = tf.oneHot(savedTargets as tf.Tensor1D, vocab, 1, 0, 'float32'); // [rows, vocab]
        return tf.mul(tf.sub(savedProbabilities, oneHot), rowScale); // [rows, vocab]
      };
      return { value, gradFunc };
    });
    return meanCrossEntropy(flatLogits) as tf.Scalar;
  });
}

function checkLabels(logits: tf.Tensor, labels: tf.Tensor, vocab: number, ignoreIndex: number): void {
  const expected = logits.shape.slice(0, -1);
  if (labels.rank !== expected.length || labels.shape.some((size, i) => size !== expected[i])) {
    throw new MismatchError(
      `crossEntropy: labels have shape ${formatShape(labels.shape)}, expected ${formatShape(expected)} to match logits ${formatShape(logits.shape)}`,
    );
  }
  if (labels.dtype !== 'int32') {
    throw new InvalidInputError(`crossEntropy: labels have dtype ${labels.dtype}, expected int32 token ids`);
  }

  const values = labels.dataSync();
  for (let i = 0; i < values.length; i++) {
    const label = values[i];
    if (label !== ignoreIndex && (label < 0 || label >= vocab)) {
      throw new InvalidInputError(
        `crossEntropy: label ${label} at flat position ${i} is outside [0, ${vocab}) and is not the ignore index ${ignoreIndex}`,
      );
    }
  }
}
