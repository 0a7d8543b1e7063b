/**
 * The one matmul path the wasm kernels here take: operands in plain layout (`[..., m, k]` times
 * `[..., k, n]`), computed by the XNNPACK fully-connected operator of tfjs-backend-wasm.
 *
 * tfjs-backend-wasm 4.22.0 reaches XNNPACK only for an unbatched product without transpose flags.
 * Every other case, such as a transpose flag or a batch of attention scores, runs a scalar loop
 * that is 10 to 60 times slower. Transposing an operand explicitly costs one pass over it, and a batch
 * becomes either one product over folded rows (shared right operand) or one XNNPACK call per batch
 * entry on slices of the heap.
 */
import * as tf from '@tensorflow/tfjs-core';

import { aliasHeap, runWasmKernel, type WasmBackend, type WasmKernelFunc } from './wasm-internals';

type WasmBatchMatMul = (
  aId: number,
  aShape: Uint8Array,
  aRank: number,
  bId: number,
  bShape: Uint8Array,
  bRank: number,
  transposeA: number,
  transposeB: number,
  outId: number,
) => void;

const compiledBatchMatMul = new WeakMap<WasmBackend, WasmBatchMatMul>();

function wasmBatchMatMul(backend: WasmBackend): WasmBatchMatMul {
  let call = compiledBatchMatMul.get(backend);
  if (!call) {
    const argTypes = ['number', 'array', 'number', 'number', 'array', 'number', 'number', 'number', 'number'];
    call = backend.wasm.cwrap('BatchMatMul', null, argTypes) as WasmBatchMatMul;
    compiledBatchMatMul.set(backend, call);
  }
  return call;
}

function shapeBytes(shape: number[]): Uint8Array {
  return new Uint8Array(new Int32Array(shape).buffer);
}

/** Transposes the last two axes of `x` with the wasm `Transpose` kernel: `[..., r, c]` to `[..., c, r]`. */
export function transposeInner(backend: WasmBackend, x: tf.TensorInfo): tf.TensorInfo {
  const rank = x.shape.length;
  const perm = [...Array(rank - 2).keys(), rank - 1, rank - 2];
  return runWasmKernel('Transpose', backend, { x }, { perm });
}

/**
 * Maps every batch entry of a broadcast output (`outer`) to the batch entry of an operand whose
 * batch axes are `operandOuter` (right-aligned, size-1 axes repeated).
 */
export function broadcastBatchIndex(outer: number[], operandOuter: number[]): Int32Array {
  const count = tf.util.sizeFromShape(outer);
  const index = new Int32Array(count);
  const offset = outer.length - operandOuter.length;
  const strides = tf.util.computeStrides(operandOuter);

  for (let flat = 0; flat < count; flat++) {
    let rest = flat;
    let source = 0;
    for (let axis = outer.length - 1; axis >= 0; axis--) {
      const position = rest % outer[axis];
      rest = Math.floor(rest / outer[axis]);
      const operandAxis = axis - offset;
      if (operandAxis >= 0 && operandOuter[operandAxis] !== 1) {
        source += position * (operandAxis === operandOuter.length - 1 ? 1 : strides[operandAxis]);
      }
    }
    index[flat] = source;
  }
  return index;
}

/**
 * Multiplies `a` `[...batchA, m, k]` by `b` `[...batchB, k, n]` (batch axes broadcast) on the
 * XNNPACK path. `original` is the wasm backend's own BatchMatMul kernel.
 */
export function plainBatchMatMul(
  backend: WasmBackend,
  original: WasmKernelFunc,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
): tf.TensorInfo {
  const [m, k] = a.shape.slice(-2);
  const n = b.shape[b.shape.length - 1];
  const aOuter = a.shape.slice(0, -2);
  const bOuter = b.shape.slice(0, -2);
  const outer = tf.broadcast_util.assertAndGetBroadcastShape(aOuter, bOuter);
  const outShape = [...outer, m, n];
  const batchA = tf.util.sizeFromShape(aOuter);
  const batchB = tf.util.sizeFromShape(bOuter);
  const batch = tf.util.sizeFromShape(outer);
  const plain = { transposeA: false, transposeB: false };
  tf.util.assert(
    k === b.shape[b.shape.length - 2],
    () => `Error in matMul: inner shapes (${k}) and (${b.shape[b.shape.length - 2]}) of tensors with shapes ${a.shape} and ${b.shape} must match.`,
  );

  // empty operands: the original kernel returns the (empty or zero) result
  if (m * n * k * batch === 0) {
    const out = original({ inputs: { a, b }, backend, attrs: plain }) as tf.TensorInfo;
    return { ...out, shape: outShape };
  }

  // one shared right operand (a linear layer): fold the batch into rows, one XNNPACK call
  // [batchA * m, k] x [k, n] -> [batchA * m, n]
  if (batchB === 1) {
    const rows = { ...a, shape: [1, batchA * m, k] };
    const weight = { ...b, shape: [1, k, n] };
    const out = original({ inputs: { a: rows, b: weight }, backend, attrs: plain }) as tf.TensorInfo;
    return { ...out, shape: outShape };
  }

  // a batch of distinct right operands (attention): one XNNPACK call per batch entry, on heap slices
  // [m, k] x [k, n] -> [m, n] for every entry
  const out = backend.makeOutput(outShape, 'float32');
  const call = wasmBatchMatMul(backend);
  const aIndex = broadcastBatchIndex(outer, aOuter);
  const bIndex = broadcastBatchIndex(outer, bOuter);
  const aShape = shapeBytes([1, m, k]);
  const bShape = shapeBytes([1, k, n]);
  for (let entry = 0; entry < batch; entry++) {
    const aSlice = aliasHeap(backend, a, aIndex[entry] * m * k * 4, m * k);
    const bSlice = aliasHeap(backend, b, bIndex[entry] * k * n * 4, k * n);
    const outSlice = aliasHeap(backend, out, entry * m * n * 4, m * n);
    call(aSlice.id, aShape, 3, bSlice.id, bShape, 3, 0, 0, outSlice.id);
    aSlice.release();
    bSlice.release();
    outSlice.release();
  }
  return out;
}

/**
 * Returns whether `a [rows, k]` times `b^T` (`b` stored `[n, k]`, shared by every batch entry) is
 * cheaper as `(b a^T)^T`. That form transposes `a` and the result (`rows * (k + n)` values)
 * instead of `b` (`n * k` values), which pays for a few rows against a large weight, as in
 * decoding: 8 rows of a 50257 x 768 `lm_head` move 0.4M values instead of 38.6M.
 */
export function prefersSwappedProduct(rows: number, k: number, n: number): boolean {
  return rows * (k + n) < n * k;
}

/**
 * Rows up to which the swapped XNNPACK product beats the native GEMM, which reads the whole
 * transposed weight by strides: for 8 rows against 32100 x 768, 25 ms against 42 ms, and from 16
 * rows on the native GEMM is faster (`bench/kernels-matmul.ts`, 2 cores).
 */
export const SWAPPED_ROWS_BEFORE_NATIVE = 8;

/**
 * Multiplies `a` `[...batchA, m, k]` by the transpose of `b` `[n, k]` (rank 2, or with batch axes
 * of size 1) as `(b a^T)^T` on the XNNPACK path, so that `b` is never transposed. Returns
 * `[...batchA, m, n]`.
 */
export function swappedTransposedProduct(
  backend: WasmBackend,
  original: WasmKernelFunc,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
): tf.TensorInfo {
  const [m, k] = a.shape.slice(-2);
  const n = b.shape[b.shape.length - 2];
  const rows = tf.util.sizeFromShape(a.shape.slice(0, -1));

  const aTransposed = transposeInner(backend, { ...a, shape: [rows, k] }); // [k, rows]
  let product: tf.TensorInfo;
  try {
    product = plainBatchMatMul(backend, original, { ...b, shape: [n, k] }, aTransposed); // [n, k] x [k, rows] -> [n, rows]
  } finally {
    backend.disposeData(aTransposed.dataId);
  }
  const out = transposeInner(backend, product); // [rows, n]
  backend.disposeData(product.dataId);
  return { ...out, shape: [...a.shape.slice(0, -2), m, n] };
}
