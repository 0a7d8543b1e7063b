import type * as tf from '@tensorflow/tfjs-core';

import { formatShape } from '../checkpoint/state-dict';
import { MismatchError } from '../errors';

/** Throws a MismatchError naming `what` unless `tensor` has exactly `expected` as its shape. */
export function expectShape(what: string, tensor: tf.Tensor, expected: readonly number[]): void {
  const same = tensor.shape.length === expected.length && tensor.shape.every((size, i) => size === expected[i]);
  if (!same) {
    throw new MismatchError(`${what} has shape ${formatShape(tensor.shape)}, expected ${formatShape(expected)}`);
  }
}

/** Returns the size of the last axis, throwing a MismatchError naming `what` for a scalar. */
export function lastAxis(what: string, tensor: tf.Tensor): number {
  if (tensor.rank === 0) throw new MismatchError(`${what} is a scalar, expected a tensor of rank 1 or more`);
  return tensor.shape[tensor.rank - 1];
}
