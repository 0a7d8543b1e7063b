import * as tf from '@tensorflow/tfjs-core';
import { linear, type LinearFn, type LinearLayer } from '@modularevo/core-tensor';
import { maskToFloat32, type Module } from '@modularevo/masking';

/** A `LinearFn` that also owns tensors, which `dispose` frees. */
export interface DisposableLinearFn {
  linear: LinearFn;
  dispose(): void;
}

/**
 * Returns a `LinearFn` that computes `x (W * mask)^T + b * mask` with the dense `linear` op for
 * every layer the module masks: the reference the sparse kernel must match. The mask tensors are
 * built on first use and kept until `dispose`.
 */
export function maskedDenseLinear(module: Module): DisposableLinearFn {
  const masks = new Map<string, tf.Tensor>();
  const maskOf = (name: string | undefined): tf.Tensor | undefined => {
    const mask = name === undefined ? undefined : module.masks.get(name);
    if (!mask || name === undefined) return undefined;
    let tensor = masks.get(name);
    if (!tensor) {
      tensor = tf.keep(tf.tensor(maskToFloat32(mask), mask.shape, 'float32'));
      masks.set(name, tensor);
    }
    return tensor;
  };

  return {
    linear: (layer: LinearLayer, x: tf.Tensor, weight: tf.Tensor2D, bias: tf.Tensor1D | undefined) =>
      tf.tidy(() => {
        const weightMask = maskOf(layer.weight);
        const biasMask = bias ? maskOf(layer.bias) : undefined;
        const maskedWeight = weightMask ? (tf.mul(weight, weightMask) as tf.Tensor2D) : weight; // [out, in]
        const maskedBias = bias && biasMask ? (tf.mul(bias, biasMask) as tf.Tensor1D) : bias; // [out]
        return linear(x, maskedWeight, maskedBias);
      }),
    dispose: () => {
      for (const tensor of masks.values()) tensor.dispose();
      masks.clear();
    },
  };
}
