/**
 * The two ways a mask score becomes a mask in the forward pass, each with the gradient the
 * original PyTorch code gives it.
 */
import * as tf from '@tensorflow/tfjs-core';

/**
 * Binarizes mask scores: `(score > 0)` as float32, so 0, -0 and NaN map to 0.
 *
 * The backward pass is a straight-through estimator: the gradient reaching the scores is the
 * upstream gradient clamped to [-1, 1] (`hardtanh(dy)`), whatever the score value.
 */
export const binarize: (score: tf.Tensor) => tf.Tensor = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const score = args[0] as tf.Tensor;
  return {
    value: tf.cast(tf.greater(score, 0), 'float32'),
    gradFunc: (dy: tf.Tensor) => [tf.clipByValue(dy, -1, 1)],
  };
});

/**
 * Clamps mask scores to [0, 1] (PyTorch `hardtanh(score, min_val=0)`), the non-binary mask.
 *
 * The gradient passes only where 0 < score < 1 and is 0 at both boundaries, as in PyTorch.
 * `tf.clipByValue` alone would also pass it at the boundaries, hence the custom gradient.
 */
export const hardtanh01: (score: tf.Tensor) => tf.Tensor = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const score = args[0] as tf.Tensor;
  const save = args[1] as tf.GradSaveFunc;
  save([score]);
  return {
    value: tf.clipByValue(score, 0, 1),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [x] = saved;
      const inside = tf.logicalAnd(tf.greater(x, 0), tf.less(x, 1));
      return [tf.where(inside, dy, tf.zerosLike(dy))];
    },
  };
});
