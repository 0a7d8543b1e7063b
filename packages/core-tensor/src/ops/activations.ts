import * as tf from '@tensorflow/tfjs-core';

/**
 * GELU in its exact form, `x * Phi(x) = 0.5 x (1 + erf(x / sqrt(2)))`, as transformers `gelu`
 * (RoBERTa / CodeBERT `hidden_act: "gelu"`). tfjs computes `erf` with an approximation whose
 * absolute error is below 1.5e-7.
 */
export function gelu(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1)));
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/**
 * GELU with the tanh approximation, `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`, as
 * transformers `gelu_new` (GPT-Neo `activation_function: "gelu_new"`).
 *
 * It is computed as `x * sigmoid(2 sqrt(2/pi) (x + 0.044715 x^3))`, the same function, because
 * `0.5 (1 + tanh(u)) = sigmoid(2u)`: on the wasm backend of tfjs 4.22 `sigmoid` and products are
 * vectorized while `tanh` and `pow` are scalar, and the two forms differ by float32 rounding only.
 */
export function geluNew(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const cube = tf.mul(tf.square(x), x);
    const inner = tf.mul(tf.add(x, tf.mul(cube, 0.044715)), 2 * SQRT_2_OVER_PI);
    return tf.mul(x, tf.sigmoid(inner));
  });
}
