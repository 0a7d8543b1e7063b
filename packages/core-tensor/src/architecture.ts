/**
 * The contract between the generic machinery (modularizer, fine-tuner, merger, evolution, cost)
 * and one transformer architecture. An architecture package implements it; nothing generic
 * imports an architecture's internals.
 */
import type * as tf from '@tensorflow/tfjs-core';

/** A linear layer `y = x W^T + b`, named as Hugging Face `transformers` names its module. */
export interface LinearLayer {
  /** Module path, for example `transformer.h.0.mlp.c_fc`. */
  name: string;
  /** Weight parameter name (`<name>.weight`), stored `[outFeatures, inFeatures]` as PyTorch does. */
  weight: string;
  /** Bias parameter name (`<name>.bias`), when the layer has a bias. */
  bias?: string;
  inFeatures: number;
  outFeatures: number;
}

/**
 * Computes one linear layer on `x` of shape `[..., inFeatures]`. The default is a dense matmul;
 * masking substitutes `weight * mask`, and the cost package a sparse kernel.
 */
export type LinearFn = (
  layer: LinearLayer,
  x: tf.Tensor,
  weight: tf.Tensor2D,
  bias: tf.Tensor1D | undefined,
) => tf.Tensor;

/** Options every forward pass accepts. */
export interface ForwardOptions {
  /** Replaces how linear layers compute (masked weights, sparse kernels). */
  linear?: LinearFn;
  /** Enables dropout. */
  training?: boolean;
  /** Seed for dropout, so a training step can be replayed. */
  seed?: number;
}
