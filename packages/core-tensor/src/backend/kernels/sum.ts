/**
 * Replaces the wasm `Sum` kernel for sums over leading axes, such as the gradient of a bias
 * (`[rows, features]` summed over rows). The kernel of tfjs-backend-wasm 4.22.0 first transposes
 * the reduced axes to the end, a full copy with a scalar index computation per element. This
 * version adds the rows one after another into float64 sums and rounds them to float32 at the end,
 * as the cpu backend of tfjs 4.22 does, so it returns the cpu backend's values without the copy.
 */
import * as tf from '@tensorflow/tfjs-core';

import type { WasmBackend, WasmKernelFunc } from './wasm-internals';

/** Builds the replacement kernel around the wasm backend's own `Sum` kernel function. */
export function leadingAxesSum(original: WasmKernelFunc): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { x } = inputs as unknown as { x: tf.TensorInfo };
    const { axis, keepDims } = attrs as unknown as tf.SumAttrs;
    const wasm = backend as WasmBackend;

    // float32 sums over a prefix of the axes that leave some axes unreduced; the rest as before
    const axes = tf.util.parseAxisParam(axis, x.shape).sort((a, b) => a - b);
    const leading = axes.every((reduced, i) => reduced === i);
    if (x.dtype !== 'float32' || !leading || axes.length === 0 || axes.length === x.shape.length) {
      return original({ inputs, backend: wasm, attrs });
    }

    // [rows, columns] -> [columns]: out[j] = float32(((0 + x[0, j]) + x[1, j]) + ...) in float64
    const rows = tf.util.sizeFromShape(x.shape.slice(0, axes.length));
    const kept = x.shape.slice(axes.length);
    const columns = tf.util.sizeFromShape(kept);
    const sums = new Float64Array(columns);
    const values = wasm.typedArrayFromHeap(x) as Float32Array;
    for (let row = 0; row < rows; row++) {
      const start = row * columns;
      for (let column = 0; column < columns; column++) sums[column] += values[start + column];
    }

    const out = wasm.makeOutput(keepDims ? [...axes.map(() => 1), ...kept] : kept, 'float32');
    (wasm.typedArrayFromHeap(out) as Float32Array).set(sums);
    return out;
  };
}
