/**
 * The activation functions a GPT-Neo `config.json` can name in `activation_function`, with the
 * formulas of `transformers.activations.ACT2FN` (transformers 4.36).
 */
import * as tf from '@tensorflow/tfjs-core';

import { gelu } from '@modularevo/core-tensor';

import { lowMemoryGeluNew } from './ops';

// NewGELUActivation, PyTorch's gelu(approximate="tanh") and AccurateGELUActivation are one
// formula, 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). GELUActivation is the exact erf form.
const ACTIVATIONS = {
  gelu: gelu,
  gelu_python: gelu,
  gelu_new: lowMemoryGeluNew,
  gelu_pytorch_tanh: lowMemoryGeluNew,
  gelu_accurate: lowMemoryGeluNew,
  // FastGELUActivation writes the cubic term as x * c * (1 + 0.044715 x^2); kept in that order.
  gelu_fast: (x: tf.Tensor) =>
    tf.mul(tf.mul(0.5, x), tf.add(1, tf.tanh(tf.mul(tf.mul(x, 0.7978845608), tf.add(1, tf.mul(0.044715, tf.square(x))))))),
  gelu_10: (x: tf.Tensor) => tf.clipByValue(gelu(x), -10, 10),
  quick_gelu: (x: tf.Tensor) => tf.mul(x, tf.sigmoid(tf.mul(1.702, x))),
  relu: (x: tf.Tensor) => tf.relu(x),
  relu2: (x: tf.Tensor) => tf.square(tf.relu(x)),
  relu6: (x: tf.Tensor) => tf.relu6(x),
  leaky_relu: (x: tf.Tensor) => tf.leakyRelu(x, 0.01),
  silu: (x: tf.Tensor) => tf.mul(x, tf.sigmoid(x)),
  swish: (x: tf.Tensor) => tf.mul(x, tf.sigmoid(x)),
  mish: (x: tf.Tensor) => tf.mul(x, tf.tanh(tf.softplus(x))),
  sigmoid: (x: tf.Tensor) => tf.sigmoid(x),
  tanh: (x: tf.Tensor) => tf.tanh(x),
  linear: (x: tf.Tensor) => x,
} satisfies Record<string, (x: tf.Tensor) => tf.Tensor>;

/** An `activation_function` value this package computes. */
export type ActivationName = keyof typeof ACTIVATIONS;

/** Every supported `activation_function` value, for help text and error messages. */
export const ACTIVATION_NAMES = Object.keys(ACTIVATIONS) as ActivationName[];

/** Returns whether `name` is a supported `activation_function` value. */
export function isActivationName(name: string): name is ActivationName {
  return Object.prototype.hasOwnProperty.call(ACTIVATIONS, name);
}

/** Applies the activation `name` element-wise. */
export function activation(name: ActivationName, x: tf.Tensor): tf.Tensor {
  return ACTIVATIONS[name](x);
}
