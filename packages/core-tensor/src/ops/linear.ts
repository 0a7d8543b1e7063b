import * as tf from '@tensorflow/tfjs-core';

import { MismatchError } from '../errors';
import { formatShape } from '../checkpoint/state-dict';
import { expectShape, lastAxis } from './shapes';

/**
 * Applies a linear layer `y = x W^T + b` as PyTorch `nn.Linear` does, with the weight in the
 * Hugging Face layout `[outFeatures, inFeatures]`.
 *
 * On the wasm backend the product goes through core-tensor's `BatchMatMul` and `_FusedMatMul`
 * kernels, which transpose the weight explicitly instead of taking the slow transposed loop.
 *
 * @param x - input `[..., inFeatures]`
 * @param weight - `[outFeatures, inFeatures]`
 * @param bias - optional `[outFeatures]`
 * @returns `[..., outFeatures]`
 * @throws MismatchError when the shapes of `x`, `weight` and `bias` do not fit together.
 */
export function linear(x: tf.Tensor, weight: tf.Tensor2D, bias?: tf.Tensor1D): tf.Tensor {
  if (weight.rank !== 2) {
    throw new MismatchError(`linear: weight has shape ${formatShape(weight.shape)}, expected [outFeatures, inFeatures]`);
  }
  const [outFeatures, inFeatures] = weight.shape;
  if (lastAxis('linear: input', x) !== inFeatures) {
    throw new MismatchError(
      `linear: input has shape ${formatShape(x.shape)}, expected a last axis of ${inFeatures} (weight ${formatShape(weight.shape)})`,
    );
  }
  if (bias) expectShape('linear: bias', bias, [outFeatures]);

  return tf.tidy(() => {
    const rows = tf.reshape(x, [-1, inFeatures]) as tf.Tensor2D; // [rows, in]
    const product = bias // [rows, in] x [in, out] -> [rows, out]
      ? tf.fused.matMul({ a: rows, b: weight, transposeB: true, bias })
      : tf.matMul(rows, weight, false, true);
    return tf.reshape(product, [...x.shape.slice(0, -1), outFeatures]); // [..., out]
  });
}
