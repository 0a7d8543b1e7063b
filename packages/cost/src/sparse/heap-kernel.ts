/**
 * The sparse product as a tfjs kernel of the wasm backend, computed where the tensors lie: the
 * kernel reads the input and writes the output through Float32Array views of the backend's heap.
 *
 * Reading a tensor back (`dataSync`) and uploading the product (`tf.tensor`) copy both into
 * fresh JavaScript buffers. At GPT-Neo-125M size that is several MiB per layer call, and V8
 * answered the external memory with several mark-compact collections per forward pass (8 to
 * 19 ms each, seen with `--trace-gc`), so those copies cost more than the products they fed.
 *
 * NOTE: `makeOutput`, `dataIdMap` and `wasm.HEAPU8` are internals of
 * @tensorflow/tfjs-backend-wasm 4.22.0, the version core-tensor pins. The sparse path tests
 * compare this kernel with the dense masked layers, so a change of these internals fails them.
 */
import * as tf from '@tensorflow/tfjs-core';

import type { PreparedMatrix } from './kernels';

/** Name under which the kernel is registered for the wasm backend. */
export const SPARSE_LINEAR_KERNEL = 'ModularEvoSparseLinear';

/** The parts of the wasm backend's `BackendWasm` the kernel uses. */
interface WasmHeapBackend extends tf.KernelBackend {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(dataId: tf.DataId): { memoryOffset: number } };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
}

/** Attributes of one call: the prepared weight and the bias to add (or none). */
interface SparseLinearAttrs {
  matrix: PreparedMatrix;
  bias: Float32Array | undefined;
}

/**
 * Computes `y = x W^T + bias` with the kernel when the active backend is wasm, and returns
 * undefined on any other backend (the caller then reads `x` back). `x` is float32 `[..., cols]`.
 */
export function sparseLinearOnHeap(matrix: PreparedMatrix, x: tf.Tensor, bias: Float32Array | undefined): tf.Tensor | undefined {
  if (tf.getBackend() !== 'wasm') return undefined;
  registerOnce();
  const attrs: SparseLinearAttrs = { matrix, bias };
  return tf.engine().runKernel(SPARSE_LINEAR_KERNEL, { x }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
}

function registerOnce(): void {
  if (tf.getKernel(SPARSE_LINEAR_KERNEL, 'wasm')) return;
  tf.registerKernel({ kernelName: SPARSE_LINEAR_KERNEL, backendName: 'wasm', kernelFunc: multiplyOnHeap });
}

function multiplyOnHeap({ inputs, backend, attrs }: { inputs: tf.NamedTensorInfoMap; backend: object; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const { x } = inputs as { x: tf.TensorInfo };
  const { matrix, bias } = attrs as unknown as SparseLinearAttrs;
  const wasm = backend as WasmHeapBackend;
  const tokens = tf.util.sizeFromShape(x.shape) / matrix.cols;

  // allocate first: an allocation can grow the heap, which replaces its ArrayBuffer
  const out = wasm.makeOutput([...x.shape.slice(0, -1), matrix.rows], 'float32'); // [..., rows]
  const memory = wasm.wasm.HEAPU8.buffer;
  const input = new Float32Array(memory, wasm.dataIdMap.get(x.dataId).memoryOffset, tokens * matrix.cols); // [tokens, cols]
  const output = new Float32Array(memory, wasm.dataIdMap.get(out.dataId).memoryOffset, tokens * matrix.rows); // [tokens, rows]
  matrix.multiply(input, tokens, bias, output);
  return out;
}
