import * as tf from '@tensorflow/tfjs-core';
import { formatShape, MismatchError, type LinearFn, type LinearLayer } from '@modularevo/core-tensor';

import { binarize, hardtanh01 } from './binarization';
import type { MaskForward } from './mask-modes';
import type { MaskScores } from './scores';

/**
 * Returns a `LinearFn` that computes `x @ (W * mask(sW))^T + b * mask(sB)` for every layer whose
 * parameters have scores, and the plain dense layer for the others. `forward` chooses the mask:
 * `binary` uses `(score > 0)` with the straight-through gradient, `hardtanh` uses
 * `clamp(score, 0, 1)`. An architecture gets masks by passing this as `ForwardOptions.linear`.
 *
 * The returned function throws a MismatchError when a layer's weight or bias shape differs from
 * its scores.
 */
export function maskedLinear(scores: MaskScores, forward: MaskForward = 'binary'): LinearFn {
  const mask = forward === 'binary' ? binarize : hardtanh01;

  return (layer: LinearLayer, x: tf.Tensor, weight: tf.Tensor2D, bias: tf.Tensor1D | undefined): tf.Tensor => {
    const weightScore = scores.get(layer.weight);
    const biasScore = bias !== undefined && layer.bias !== undefined ? scores.get(layer.bias) : undefined;
    if (weightScore) checkShape(layer.weight, weight, weightScore);
    if (bias && biasScore) checkShape(layer.bias!, bias, biasScore);

    const maskedWeight = weightScore ? tf.mul(weight, mask(weightScore)) : weight; // [out, in]
    const maskedBias = bias && biasScore ? tf.mul(bias, mask(biasScore)) : bias; // [out]
    return denseLinear(x, maskedWeight as tf.Tensor2D, maskedBias as tf.Tensor1D | undefined);
  };
}

/** Computes `x @ weight^T + bias` for `x` of shape `[..., in]` and a PyTorch-layout weight `[out, in]`. */
function denseLinear(x: tf.Tensor, weight: tf.Tensor2D, bias: tf.Tensor1D | undefined): tf.Tensor {
  const [outFeatures, inFeatures] = weight.shape;
  const leading = x.shape.slice(0, -1);

  const rows = tf.reshape(x, [-1, inFeatures]); // [n, in]
  let y: tf.Tensor = tf.matMul(rows, weight, false, true); // [n, in] @ [in, out] -> [n, out]
  if (bias) y = tf.add(y, bias); // [n, out]
  return tf.reshape(y, [...leading, outFeatures]); // [..., out]
}

function checkShape(name: string, parameter: tf.Tensor, score: tf.Tensor): void {
  const a = parameter.shape;
  const b = score.shape;
  if (a.length !== b.length || a.some((size, i) => size !== b[i])) {
    throw new MismatchError(
      `Parameter "${name}" has shape ${formatShape(a)} but its mask scores have shape ${formatShape(b)}; the scores were made for another model`,
    );
  }
}
