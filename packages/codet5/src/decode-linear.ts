/**
 * The linear function of decode steps. A decode step multiplies a few rows (one token per
 * sequence or beam) by every large `[out, in]` weight.
 */
import * as tf from '@tensorflow/tfjs-core';

import { nativeGemmStatus, type LinearFn } from '@modularevo/core-tensor';

import { denseLinear } from './layers';

/**
 * Computes `x W^T + b` as `(W x^T)^T + b`: the weight is the left operand as stored, and only
 * the `[out, rows]` result is transposed.
 */
export const weightFirstLinear: LinearFn = (_layer, x, weight, bias) =>
  tf.tidy(() => {
    const [outFeatures, inFeatures] = weight.shape;
    const rows = tf.reshape(x, [-1, inFeatures]); // [rows, in]
    const product = tf.matMul(weight, rows, false, true); // [out, in] x [in, rows] -> [out, rows]
    const y = tf.transpose(product); // [rows, out]
    return tf.reshape(bias ? tf.add(y, bias) : y, [...x.shape.slice(0, -1), outFeatures]); // [..., out]
  });

/**
 * Returns the linear function for decode steps on the current backend: {@link weightFirstLinear}
 * on wasm without core-tensor's native GEMM accelerator, else the shared `linear`.
 *
 * NOTE: core-tensor's XNNPACK matmul path copies and transposes a transposed right operand on
 * every call, which for a few rows costs more than the product itself. bench/decode-linear.ts
 * measured greedy generation of a CodeT5-small shape 2.6x faster with operands swapped, and no
 * difference with the native accelerator. Once core-tensor swaps the operands itself for short
 * left operands, decode steps can use the shared `linear` everywhere.
 */
export function decodeStepLinear(): LinearFn {
  return tf.getBackend() === 'wasm' && !nativeGemmStatus().available ? weightFirstLinear : denseLinear;
}
