/**
 * Replaces the wasm `Select` kernel (`tf.where`) for branches of different dtypes. The kernel of
 * tfjs-backend-wasm 4.22.0 gives the result the dtype of the first branch and copies the raw bytes
 * of the second: `tf.where(c, int32Tensor, float32Tensor)` returns float bit patterns read as
 * integers, while the cpu backend returns float32 values. T5's relative position buckets mix the
 * two (`where(isSmall, distance, logBucket)`). Casting both branches to their common dtype first
 * gives the cpu result.
 */
import * as tf from '@tensorflow/tfjs-core';

import { runWasmKernel, type WasmBackend, type WasmKernelFunc } from './wasm-internals';

/** Builds the replacement kernel around the wasm backend's own `Select` kernel function. */
export function dtypeSafeSelect(original: WasmKernelFunc): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { condition, t, e } = inputs as unknown as { condition: tf.TensorInfo; t: tf.TensorInfo; e: tf.TensorInfo };
    const wasm = backend as WasmBackend;
    if (t.dtype === e.dtype) return original({ inputs, backend: wasm, attrs });

    const dtype = tf.upcastType(t.dtype, e.dtype);
    const castT = t.dtype === dtype ? t : runWasmKernel('Cast', wasm, { x: t }, { dtype });
    const castE = e.dtype === dtype ? e : runWasmKernel('Cast', wasm, { x: e }, { dtype });
    try {
      return original({ inputs: { condition, t: castT, e: castE }, backend: wasm, attrs });
    } finally {
      if (castT !== t) wasm.disposeData(castT.dataId);
      if (castE !== e) wasm.disposeData(castE.dataId);
    }
  };
}
