import * as tf from '@tensorflow/tfjs-core';

import { MismatchError } from '../errors';
import { formatShape } from '../checkpoint/state-dict';
import { customOp, type CustomForward } from './custom-op';
import { expectShape, lastAxis } from './shapes';

/**
 * Applies a linear layer `y = x W^T + b` as PyTorch `nn.Linear` does, with the weight in the
 * Hugging Face layout `[outFeatures, inFeatures]`.
 *
 * Its gradient keeps only `x` and `W` (on wasm and cpu a saved tensor shares memory with its
 * source). It computes only the gradients that backpropagation requests, so a frozen weight costs
 * no product. On the wasm backend the products go through core-tensor's `BatchMatMul` and
 * `_FusedMatMul` kernels, which avoid the slow transposed loop of tfjs-backend-wasm.
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

  const inputs: { x: tf.Tensor; weight: tf.Tensor; bias?: tf.Tensor } = bias ? { x, weight, bias } : { x, weight };
  const forward: CustomForward = (save) => {
    save([x, weight]);
    const rows = tf.reshape(x, [-1, inFeatures]) as tf.Tensor2D; // [rows, in]
    const product = bias // [rows, in] x [in, out] -> [rows, out]
      ? tf.fused.matMul({ a: rows, b: weight, transposeB: true, bias })
      : tf.matMul(rows, weight, false, true);
    return tf.reshape(product, [...x.shape.slice(0, -1), outFeatures]); // [..., out]
  };

  return customOp('linear', inputs, forward, (dy, [savedX, savedWeight]) => {
    const dyRows = () => tf.reshape(dy, [-1, outFeatures]); // [rows, out]
    return {
      x: () => tf.reshape(tf.matMul(dyRows(), savedWeight), savedX.shape), // [rows, out] x [out, in] -> [..., in]
      weight: () => tf.matMul(dyRows(), tf.reshape(savedX, [-1, inFeatures]), true, false), // [out, rows] x [rows, in] -> [out, in]
      bias: () => tf.sum(dyRows(), 0), // [out]
    };
  });
}
