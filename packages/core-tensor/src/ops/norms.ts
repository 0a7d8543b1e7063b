import * as tf from '@tensorflow/tfjs-core';

import { expectShape, lastAxis } from './shapes';

/**
 * Normalises `x` over its last axis as `torch.nn.LayerNorm` does (mean subtracted, biased
 * variance), then scales by `gamma` and shifts by `beta`. GPT-Neo and RoBERTa use it.
 *
 * @param x - input `[..., hidden]`
 * @param gamma - scale `[hidden]` (Hugging Face `weight`)
 * @param beta - shift `[hidden]` (Hugging Face `bias`)
 * @param eps - added to the variance (`layer_norm_epsilon` / `layer_norm_eps` of the config)
 * @returns `[..., hidden]`
 * @throws MismatchError when `gamma` or `beta` is not `[hidden]`.
 */
export function layerNorm(x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps = 1e-5): tf.Tensor {
  const hidden = lastAxis('layerNorm: input', x);
  expectShape('layerNorm: gamma', gamma, [hidden]);
  expectShape('layerNorm: beta', beta, [hidden]);

  return tf.tidy(() => {
    const mean = tf.mean(x, -1, true); // [..., 1]
    const centered = tf.sub(x, mean); // [..., hidden]
    const variance = tf.mean(tf.square(centered), -1, true); // [..., 1]
    const normalized = tf.mul(centered, tf.rsqrt(tf.add(variance, eps))); // [..., hidden]
    return tf.add(tf.mul(normalized, gamma), beta);
  });
}

/**
 * Normalises `x` by its root mean square over the last axis and scales by `weight`, as T5's
 * `T5LayerNorm` does: no mean subtraction and no bias. The variance is computed in float32.
 *
 * @param x - input `[..., hidden]`
 * @param weight - scale `[hidden]`
 * @param eps - added to the mean square (`layer_norm_epsilon` of the T5 config, 1e-6 by default)
 * @returns `[..., hidden]`
 * @throws MismatchError when `weight` is not `[hidden]`.
 */
export function rmsNorm(x: tf.Tensor, weight: tf.Tensor1D, eps = 1e-6): tf.Tensor {
  const hidden = lastAxis('rmsNorm: input', x);
  expectShape('rmsNorm: weight', weight, [hidden]);

  return tf.tidy(() => {
    const input = tf.cast(x, 'float32');
    const variance = tf.mean(tf.square(input), -1, true); // [..., 1]
    return tf.mul(weight, tf.mul(input, tf.rsqrt(tf.add(variance, eps)))); // [..., hidden]
  });
}
