/**
 * The small pieces a T5 block is made of, on top of core-tensor's shared ops: the default
 * linear layer, the feed-forward activations and dropout with replayable seeds.
 */
import * as tf from '@tensorflow/tfjs-core';

import { dropout, gelu, geluNew, linear, type LinearFn } from '@modularevo/core-tensor';

import type { T5Activation } from './config';

/**
 * Computes `x W^T` (plus `b`) for `x` of shape `[..., inFeatures]` and `W` of shape
 * `[outFeatures, inFeatures]`, as `torch.nn.Linear` does.
 */
export const denseLinear: LinearFn = (_layer, x, weight, bias) => linear(x, weight, bias);

/** Applies a feed-forward activation by its `transformers` name. */
export function activation(name: T5Activation, x: tf.Tensor): tf.Tensor {
  switch (name) {
    case 'relu':
      return tf.relu(x);
    case 'gelu':
      return gelu(x);
    case 'gelu_new':
    case 'gelu_pytorch_tanh':
      return geluNew(x);
    case 'silu':
    case 'swish':
      return tf.mul(x, tf.sigmoid(x));
  }
}

/**
 * Dropout for one forward pass. It is the identity unless training with a positive rate. The
 * n-th call of a pass uses `seed + n`, so a training step with a seed can be replayed exactly.
 * Without a seed each pass draws a random one.
 */
export class Dropout {
  private calls = 0;
  private readonly seed: number;

  constructor(
    private readonly rate: number,
    private readonly training: boolean,
    seed?: number,
  ) {
    this.seed = seed ?? Math.floor(Math.random() * 2 ** 31);
  }

  apply(x: tf.Tensor): tf.Tensor {
    if (!this.training || this.rate === 0) return x;
    return dropout(x, this.rate, this.seed + this.calls++);
  }
}
