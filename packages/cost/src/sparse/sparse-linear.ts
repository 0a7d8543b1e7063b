import * as tf from '@tensorflow/tfjs-core';
import { formatShape, linear, MismatchError, type LinearFn, type LinearLayer } from '@modularevo/core-tensor';

import { sparseLinearOnHeap } from './heap-kernel';
import type { PreparedMatrix } from './kernels';
import type { SparsePlan } from './plan';

/**
 * Returns a `LinearFn` that computes every planned layer from the weights and masks the plan was
 * built with: the sparse kernel for sparse layers, the dense `linear` op on the masked weight for
 * dense ones. Every other layer (task heads, layers the module does not mask) runs the dense
 * `linear` op. Pass it as `ForwardOptions.linear`.
 *
 * On the wasm backend the sparse kernel reads and writes the backend's memory in place. On any
 * other backend the sparse layers read their input back and upload their output, so they run on
 * the CPU whatever the backend. They are for inference only: no gradient flows through them.
 *
 * The returned function throws a MismatchError when a planned layer is called with a weight of
 * another shape or an input whose last axis is not the layer's input size.
 */
export function sparseLinear(plan: SparsePlan): LinearFn {
  return (layer: LinearLayer, x: tf.Tensor, weight: tf.Tensor2D, bias: tf.Tensor1D | undefined): tf.Tensor => {
    const planned = plan.layers.get(layer.weight);
    if (!planned) return linear(x, weight, bias);

    const [rows, cols] = [planned.layer.outFeatures, planned.layer.inFeatures];
    if (weight.shape[0] !== rows || weight.shape[1] !== cols || x.shape[x.rank - 1] !== cols) {
      throw new MismatchError(
        `sparseLinear: layer "${layer.name}" was planned as [${rows}, ${cols}] but is called with weight ${formatShape(weight.shape)} and input ${formatShape(x.shape)}`,
      );
    }

    if (planned.path === 'dense') return linear(x, planned.weight, bias ? planned.bias : undefined);

    const plannedBias = bias ? planned.bias : undefined;
    return tf.tidy(() => {
      const input = x.dtype === 'float32' ? x : tf.cast(x, 'float32');
      return sparseLinearOnHeap(planned.weight, input, plannedBias) ?? readBackAndMultiply(planned.weight, input, plannedBias);
    });
  };
}

// Backends other than wasm: read the input back, multiply on the CPU, upload the product.
function readBackAndMultiply(matrix: PreparedMatrix, x: tf.Tensor, bias: Float32Array | undefined): tf.Tensor {
  const tokens = x.size / matrix.cols;
  const output = new Float32Array(tokens * matrix.rows); // [tokens, out]
  matrix.multiply(x.dataSync() as Float32Array, tokens, bias, output); // [tokens, in] -> [tokens, out]
  return tf.tensor(output, [...x.shape.slice(0, -1), matrix.rows], 'float32'); // [..., out]
}
