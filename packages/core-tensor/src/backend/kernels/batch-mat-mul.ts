/**
 * Replaces the wasm `BatchMatMul` kernel so that every product takes a fast path: the native GEMM
 * accelerator when it is built (`native-gemm.ts`), otherwise XNNPACK with transposed operands
 * transposed explicitly first and batches run per entry (`mat-mul-plain.ts`). A few rows against a
 * large transposed weight swap the operands instead, so that only the small operands are transposed. The gradient of a
 * matmul uses transpose flags, and Hugging Face stores linear weights `[out, in]`, so without this
 * override a training step spends most of its time in the slow loop.
 */
import * as tf from '@tensorflow/tfjs-core';

import {
  plainBatchMatMul,
  prefersSwappedProduct,
  SWAPPED_ROWS_BEFORE_NATIVE,
  swappedTransposedProduct,
  transposeInner,
} from './mat-mul-plain';
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

    // a few rows against a shared right operand stored transposed (a linear layer while decoding)
    const sgemm = nativeSgemm();
    const [rows, k] = [tf.util.sizeFromShape(a.shape.slice(0, -1)), a.shape[a.shape.length - 1]];
    const sharedB = tf.util.sizeFromShape(b.shape.slice(0, -2)) === 1;
    const swap = !transposeA && transposeB && sharedB && prefersSwappedProduct(rows, k, b.shape[b.shape.length - 2]);
    if (swap && (!sgemm || rows <= SWAPPED_ROWS_BEFORE_NATIVE)) return swappedTransposedProduct(wasm, original, a, b);

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
