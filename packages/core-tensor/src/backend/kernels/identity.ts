/**
 * Replaces the wasm `Identity` kernel so that the output shares the input's memory, as the cpu
 * backend of tfjs 4.22 does, instead of copying it. tfjs-core saves every tensor that a gradient
 * needs through `Identity` (`Engine.clone`), so on wasm each saved activation and weight used to
 * be a second copy.
 *
 * Sharing is safe because tfjs kernels never write into their inputs, and the backend counts the
 * tensors that share a buffer and frees it with the last one (`Reshape` shares the same way).
 * Code that writes into a tensor's memory in place, such as AdamW's fused update, must first check
 * that the tensor holds the only reference (`backend.refCount(dataId) === 1`).
 */
import * as tf from '@tensorflow/tfjs-core';

import type { WasmBackend, WasmKernelFunc } from './wasm-internals';

/** Builds the replacement kernel around the wasm backend's own `Identity` kernel function. */
export function sharedIdentity(original: WasmKernelFunc): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { x } = inputs as unknown as { x: tf.TensorInfo };
    const wasm = backend as WasmBackend;

    // strings live in JavaScript, not on the heap: the original kernel copies them
    if (x.dtype === 'string') return original({ inputs, backend: wasm, attrs });

    wasm.incRef(x.dataId);
    return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
  };
}
