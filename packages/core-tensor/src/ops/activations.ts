import * as tf from '@tensorflow/tfjs-core';

import { customOp } from './custom-op';

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const INVERSE_SQRT_2_PI = 1 / Math.sqrt(2 * Math.PI);

/**
 * GELU in its exact form, `x * Phi(x) = 0.5 x (1 + erf(x / sqrt(2)))`, as transformers `gelu`
 * (RoBERTa / CodeBERT `hidden_act: "gelu"`). tfjs computes `erf` with an approximation whose
 * absolute error is below 1.5e-7. The gradient keeps only `x`.
 */
export function gelu(x: tf.Tensor): tf.Tensor {
  const forward = (save: (tensors: tf.Tensor[]) => void) => {
    save([x]);
    return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
  };
  return customOp('gelu', { x }, forward, (dy, [savedX]) => ({
    // d/dx x Phi(x) = Phi(x) + x phi(x), with phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
    x: () => {
      const cdf = tf.mul(tf.add(tf.erf(tf.mul(savedX, Math.SQRT1_2)), 1), 0.5);
      const pdf = tf.mul(tf.exp(tf.mul(tf.square(savedX), -0.5)), INVERSE_SQRT_2_PI);
      return tf.mul(dy, tf.add(cdf, tf.mul(savedX, pdf)));
    },
  }));
}

/**
 * GELU with the tanh approximation, `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`, as
 * transformers `gelu_new` (GPT-Neo `activation_function: "gelu_new"`). The gradient keeps only `x`.
 *
 * It is computed as `x * sigmoid(2 sqrt(2/pi) (x + 0.044715 x^3))`, the same function, because
 * `0.5 (1 + tanh(u)) = sigmoid(2u)`: on the wasm backend of tfjs 4.22 `sigmoid` and products are
 * vectorized while `tanh` and `pow` are scalar, and the two forms differ by float32 rounding only.
 */
export function geluNew(x: tf.Tensor): tf.Tensor {
  const forward = (save: (tensors: tf.Tensor[]) => void) => {
    save([x]);
    const cube = tf.mul(tf.square(x), x);
    const inner = tf.mul(tf.add(x, tf.mul(cube, 0.044715)), 2 * SQRT_2_OVER_PI);
    return tf.mul(x, tf.sigmoid(inner));
  };
  return customOp('geluNew', { x }, forward, (dy, [savedX]) => ({
    // d/dx x s(2u) = s + x s (1 - s) 2u', with s = sigmoid(2u) and u' = sqrt(2/pi) (1 + 3 * 0.044715 x^2)
    x: () => {
      const square = tf.square(savedX);
      const twoU = tf.mul(tf.mul(savedX, tf.add(tf.mul(square, 0.044715), 1)), 2 * SQRT_2_OVER_PI);
      const s = tf.sigmoid(twoU);
      const twoUPrime = tf.mul(tf.add(tf.mul(square, 3 * 0.044715), 1), 2 * SQRT_2_OVER_PI);
      const derivative = tf.add(s, tf.mul(tf.mul(savedX, tf.mul(s, tf.sub(1, s))), twoUPrime));
      return tf.mul(dy, derivative);
    },
  }));
}
