/**
 * Replaces the wasm `BatchMatMul` kernel so that every product takes a fast path: the native GEMM
 * accelerator when it is built (`native-gemm.ts`), otherwise XNNPACK with transposed operands
 * transposed explicitly first and batches run per entry (`mat-mul-plain.ts`). The gradient of a
 * matmul uses transpose flags, and Hugging Face stores linear weights `[out, in]`, so without this
 * override a training step spends most of its time in the slow loop.
 */
import * as tf from '@tensorflow/tfjs-core';

import { plainBatchMatMul, transposeInner } from './mat-mul-plain';
import { nativeBatchMatMul, nativeSgemm } from './native-gemm';
import type { WasmBackend, WasmKernelFunc } from './wasm-internals';

/** Builds the replacement kernel around the wasm backend's own `BatchMatMul` kernel function. */
export function fastBatchMatMul(original: WasmKernelFunc): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { a, b } = inputs as unknown as { a: tf.TensorInfo; b: tf.TensorInfo };
    const { transposeA, transposeB } = attrs as unknown as tf.BatchMatMulAttrs;
    const wasm = backend as WasmBackend;

    // other dtypes and ranks below 2: the original kernel reports what it rejects
    if (a.dtype !== 'float32' || b.dtype !== 'float32' || a.shape.length < 2 || b.shape.length < 2) {
      return original({ inputs: { a, b }, backend: wasm, attrs });
    }

    const sgemm = nativeSgemm();
    if (sgemm) return nativeBatchMatMul(wasm, sgemm, a, b, transposeA, transposeB);

    const plainA = transposeA ? transposeInner(wasm, a) : a;
    const plainB = transposeB ? transposeInner(wasm, b) : b;
    try {
      return plainBatchMatMul(wasm, original, plainA, plainB);
    } finally {
      if (plainA !== a) wasm.disposeData(plainA.dataId);
      if (plainB !== b) wasm.disposeData(plainB.dataId);
    }
  };
}
