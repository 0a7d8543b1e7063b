/**
 * Replaces the wasm `_FusedMatMul` kernel (matmul with bias and activation, used by
 * `tf.fused.matMul`) so that it takes a fast path like `BatchMatMul`. Without activation it runs
 * the native GEMM accelerator when built, or for a few rows against a transposed weight the
 * swapped XNNPACK product, and adds the bias after. Otherwise it runs XNNPACK with transposed
 * operands transposed explicitly, and folds a batch with one shared right operand into rows.
 */
import * as tf from '@tensorflow/tfjs-core';

import { prefersSwappedProduct, SWAPPED_ROWS_BEFORE_NATIVE, swappedTransposedProduct, transposeInner } from './mat-mul-plain';
import { nativeBatchMatMul, nativeSgemm } from './native-gemm';
import { runWasmKernel, type WasmBackend, type WasmKernelFunc } from './wasm-internals';

// The registered wasm BatchMatMul (core-tensor's replacement), for products without bias.
const runBatchMatMul: WasmKernelFunc = ({ inputs, backend, attrs }) => runWasmKernel('BatchMatMul', backend, inputs, attrs);

/** Builds the replacement kernel around the wasm backend's own `_FusedMatMul` kernel function. */
export function fastFusedMatMul(original: WasmKernelFunc): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { a, b, bias } = inputs as unknown as { a: tf.TensorInfo; b: tf.TensorInfo; bias?: tf.TensorInfo };
    const { transposeA, transposeB } = attrs as unknown as tf.BatchMatMulAttrs;
    const wasm = backend as WasmBackend;

    // tfjs-core passes rank-3 operands; anything else goes to the original kernel unchanged
    if (a.dtype !== 'float32' || b.dtype !== 'float32' || a.shape.length !== 3 || b.shape.length !== 3) {
      return original({ inputs, backend: wasm, attrs });
    }

    // linear layers (no activation): a product, then the bias as a broadcast add. A few rows
    // against a transposed weight (decoding) run as (W x^T)^T, the others on the native GEMM.
    const sgemm = nativeSgemm();
    const { activation } = attrs as unknown as { activation?: string };
    const rows = a.shape[0] * a.shape[1];
    const swap = !transposeA && transposeB && b.shape[0] === 1 && prefersSwappedProduct(rows, a.shape[2], b.shape[1]);
    const useSwap = swap && (!sgemm || rows <= SWAPPED_ROWS_BEFORE_NATIVE);
    if ((activation === undefined || activation === 'linear') && (useSwap || sgemm)) {
      const product = useSwap
        ? swappedTransposedProduct(wasm, runBatchMatMul, a, b)
        : nativeBatchMatMul(wasm, sgemm!, a, b, transposeA, transposeB);
      if (!bias) return product;
      const sum = runWasmKernel('Add', wasm, { a: product, b: bias });
      wasm.disposeData(product.dataId);
      return sum;
    }

    const plainA = transposeA ? transposeInner(wasm, a) : a;
    const plainB = transposeB ? transposeInner(wasm, b) : b;
    const plainAttrs = { ...attrs, transposeA: false, transposeB: false };
    try {
      const [batchA, m, k] = plainA.shape;
      const [batchB, , n] = plainB.shape;
      const biasFits = bias == null || tf.util.sizeFromShape(bias.shape) === n;

      // one shared right operand: fold the batch into rows, one XNNPACK call
      // [batchA * m, k] x [k, n] -> [batchA * m, n]
      if (batchB === 1 && biasFits) {
        const rows = { ...plainA, shape: [1, batchA * m, k] };
        const out = original({ inputs: { ...inputs, a: rows, b: plainB }, backend: wasm, attrs: plainAttrs });
        return { ...(out as tf.TensorInfo), shape: [batchA, m, n] };
      }
      return original({ inputs: { ...inputs, a: plainA, b: plainB }, backend: wasm, attrs: plainAttrs });
    } finally {
      if (plainA !== a) wasm.disposeData(plainA.dataId);
      if (plainB !== b) wasm.disposeData(plainB.dataId);
    }
  };
}
