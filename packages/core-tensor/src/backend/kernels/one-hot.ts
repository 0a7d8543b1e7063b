/**
 * Replaces the wasm `OneHot` kernel for output dtypes other than int32. The compiled kernel of
 * tfjs-backend-wasm 4.22.0 always writes int32 values, so `tf.oneHot(ids, depth, 1, 0, 'float32')`
 * returned the bit pattern of the integer 1 (1.4e-45) where the cpu backend returns 1.
 */
import * as tf from '@tensorflow/tfjs-core';

import type { WasmBackend, WasmKernelFunc } from './wasm-internals';

/** Builds the replacement kernel around the wasm backend's own `OneHot` kernel function. */
export function dtypeSafeOneHot(original: WasmKernelFunc): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { indices } = inputs as unknown as { indices: tf.TensorInfo };
    const { dtype, depth, onValue, offValue } = attrs as unknown as tf.OneHotAttrs;
    const wasm = backend as WasmBackend;
    if (dtype === 'int32') return original({ inputs, backend: wasm, attrs });

    // fill with the off value, then set one entry per index that lies in [0, depth)
    const out = wasm.makeOutput([...indices.shape, depth], dtype);
    const values = wasm.typedArrayFromHeap(out);
    const ids = wasm.typedArrayFromHeap(indices);
    values.fill(offValue);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (id >= 0 && id < depth) values[i * depth + id] = onValue;
    }
    return out;
  };
}
