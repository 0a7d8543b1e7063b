import * as tf from '@tensorflow/tfjs-core';

import { customOp, type CustomForward } from './custom-op';
import { expectShape, lastAxis } from './shapes';

/**
 * Normalises `x` over its last axis as `torch.nn.LayerNorm` does (mean subtracted, biased
 * variance), then scales by `gamma` and shifts by `beta`. GPT-Neo and RoBERTa use it.
 *
 * Its gradient keeps only `x` and `gamma`, and recomputes the normalisation during the backward
 * pass instead of keeping its intermediate tensors.
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

  const forward: CustomForward = (save) => {
    save([x, gamma]);
    const { normalized } = normalize(x, eps);
    return tf.add(tf.mul(normalized, gamma), beta);
  };

  return customOp('layerNorm', { x, gamma, beta }, forward, (dy, [savedX, savedGamma]) => {
    const axis = savedX.rank - 1;
    const leading = [...Array(axis).keys()];
    return {
      // dx = (g - mean(g) - x_hat * mean(g * x_hat)) / std, with g = dy * gamma
      x: () => {
        const { normalized, inverseStd } = normalize(savedX, eps);
        const g = tf.mul(dy, savedGamma); // [..., hidden]
        const projection = tf.mul(normalized, tf.mean(tf.mul(g, normalized), axis, true)); // [..., hidden]
        return tf.mul(tf.sub(tf.sub(g, tf.mean(g, axis, true)), projection), inverseStd);
      },
      gamma: () => tf.sum(tf.mul(dy, normalize(savedX, eps).normalized), leading), // [hidden]
      beta: () => tf.sum(dy, leading), // [hidden]
    };
  });
}

// x_hat = (x - mean) / sqrt(var + eps) over the last axis, in the order torch computes it.
function normalize(x: tf.Tensor, eps: number): { normalized: tf.Tensor; inverseStd: tf.Tensor } {
  const mean = tf.mean(x, -1, true); // [..., 1]
  const centered = tf.sub(x, mean); // [..., hidden]
  const variance = tf.mean(tf.square(centered), -1, true); // [..., 1]
  const inverseStd = tf.rsqrt(tf.add(variance, eps)); // [..., 1]
  return { normalized: tf.mul(centered, inverseStd), inverseStd };
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
