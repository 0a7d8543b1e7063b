import * as tf from '@tensorflow/tfjs-core';
import { formatShape, linear, MismatchError, type LinearFn, type LinearLayer } from '@modularevo/core-tensor';

import type { SparsePlan } from './plan';

/**
 * Returns a `LinearFn` that computes every planned layer with the sparse kernel, from the
 * weights and masks the plan was built with, and every other layer (task heads, layers the
 * module does not mask) with the dense `linear` op. Pass it as `ForwardOptions.linear`.
 *
 * The sparse layers read their input back from the backend and upload their output, so they
 * run on the CPU whatever the backend, and they are for inference only: no gradient flows
 * through them.
 *
 * The returned function throws a MismatchError when a planned layer is called with a weight of
 * another shape or an input whose last axis is not the layer's input size.
 */
export function sparseLinear(plan: SparsePlan): LinearFn {
  return (layer: LinearLayer, x: tf.Tensor, weight: tf.Tensor2D, bias: tf.Tensor1D | undefined): tf.Tensor => {
    const planned = plan.layers.get(layer.weight);
    if (!planned) return linear(x, weight, bias);

    const { rows, cols } = planned.weight;
    if (weight.shape[0] !== rows || weight.shape[1] !== cols || x.shape[x.rank - 1] !== cols) {
      throw new MismatchError(
        `sparseLinear: layer "${layer.name}" was planned as [${rows}, ${cols}] but is called with weight ${formatShape(weight.shape)} and input ${formatShape(x.shape)}`,
      );
    }

    const tokens = x.size / cols;
    const input = readFloat32(x); // [tokens, in]
    const output = new Float32Array(tokens * rows); // [tokens, out]
    planned.weight.multiply(input, tokens, bias ? planned.bias : undefined, output);
    return tf.tensor(output, [...x.shape.slice(0, -1), rows], 'float32'); // [..., out]
  };
}

function readFloat32(x: tf.Tensor): Float32Array {
  if (x.dtype === 'float32') return x.dataSync() as Float32Array;
  const cast = tf.cast(x, 'float32');
  try {
    return cast.dataSync() as Float32Array;
  } finally {
    cast.dispose();
  }
}
