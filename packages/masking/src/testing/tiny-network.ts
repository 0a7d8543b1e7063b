/** The fixture's `Linear(5, 4) -> ReLU -> Linear(4, 3)` network, built on a `LinearFn`. */
import * as tf from '@tensorflow/tfjs-core';
import type { LinearFn, LinearLayer } from '@modularevo/core-tensor';

import type { MaskingFixture } from './masking-fixture';

/** The two linear layers, named as `nn.Sequential` names them. */
export const TINY_LAYERS: LinearLayer[] = [
  { name: '0', weight: '0.weight', bias: '0.bias', inFeatures: 5, outFeatures: 4 },
  { name: '2', weight: '2.weight', bias: '2.bias', inFeatures: 4, outFeatures: 3 },
];

/** Returns the fixture key of the scores of parameter `name` (`0.weight` -> `0.weight_mask`). */
export function fixtureMaskKey(name: string): string {
  return `${name}_mask`;
}

/** Runs the network on `x` [batch, 5] with the fixture's base weights; returns [batch, 3]. */
export function tinyForward(golden: MaskingFixture, linear: LinearFn, x: tf.Tensor): tf.Tensor {
  const [first, second] = TINY_LAYERS;
  const weight = (name: string) => golden.tensor(`module.base.${name}`);

  const hidden = tf.relu(linear(first, x, weight(first.weight) as tf.Tensor2D, weight(first.bias!) as tf.Tensor1D)); // [batch, 4]
  return linear(second, hidden, weight(second.weight) as tf.Tensor2D, weight(second.bias!) as tf.Tensor1D); // [batch, 3]
}
