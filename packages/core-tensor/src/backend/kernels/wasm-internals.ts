/**
 * The parts of the wasm backend's `BackendWasm` that the kernels in this folder use.
 *
 * NOTE: `dataIdNextNumber`, `wasm.cwrap` and `wasm.tfjs` are internals of
 * @tensorflow/tfjs-backend-wasm 4.22.0, which core-tensor pins to that exact version. The kernel
 * tests compare every kernel here with the cpu backend, so a change of these internals fails them.
 */
import * as tf from '@tensorflow/tfjs-core';

type TypedArray = Float32Array | Int32Array | Uint8Array;

/** Entry of `BackendWasm.dataIdMap` for one tensor. */
interface WasmTensorData {
  id: number;
  memoryOffset: number;
}

/** The compiled module behind the wasm backend (Emscripten). */
interface WasmModule {
  HEAPU8: Uint8Array;
  cwrap(name: string, returnType: string | null, argTypes: string[]): (...args: unknown[]) => unknown;
  tfjs: {
    registerTensor(id: number, size: number, memoryOffset: number): void;
    disposeData(id: number): void;
    getThreadsCount(): number;
  };
}

/** A typed view of `BackendWasm` from @tensorflow/tfjs-backend-wasm 4.22.0. */
export interface WasmBackend extends tf.KernelBackend {
  wasm: WasmModule;
  dataIdNextNumber: number;
  dataIdMap: { get(dataId: tf.DataId): WasmTensorData; has(dataId: tf.DataId): boolean };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): TypedArray;
  disposeData(dataId: tf.DataId, force?: boolean): boolean;
}

/** The wasm backend's own kernel function for `kernelName`, as registered before any override. */
export type WasmKernelFunc = (args: {
  inputs: tf.NamedTensorInfoMap;
  backend: WasmBackend;
  attrs?: tf.NamedAttrMap;
}) => tf.TensorInfo | tf.TensorInfo[];

/**
 * A tensor id that points into another tensor's memory, so a wasm kernel can work on one slice of a
 * batch without copying it. `release` unregisters the id and leaves the memory to its owner.
 */
export interface HeapAlias {
  id: number;
  release(): void;
}

/** Registers an alias of `size` elements at byte offset `byteOffset` of `info`'s memory. */
export function aliasHeap(backend: WasmBackend, info: tf.TensorInfo, byteOffset: number, size: number): HeapAlias {
  const { memoryOffset } = backend.dataIdMap.get(info.dataId);
  const id = backend.dataIdNextNumber++;
  backend.wasm.tfjs.registerTensor(id, size, memoryOffset + byteOffset);
  return { id, release: () => backend.wasm.tfjs.disposeData(id) };
}

/** Returns the id the compiled module uses for `info`. */
export function heapId(backend: WasmBackend, info: tf.TensorInfo): number {
  return backend.dataIdMap.get(info.dataId).id;
}

/** Runs the kernel registered for the wasm backend under `kernelName` (for example `Transpose`). */
export function runWasmKernel(
  kernelName: string,
  backend: WasmBackend,
  inputs: tf.NamedTensorInfoMap,
  attrs: tf.NamedAttrMap = {},
): tf.TensorInfo {
  const kernel = tf.getKernel(kernelName, 'wasm');
  if (!kernel) throw new Error(`Kernel ${kernelName} is not registered for the wasm backend`);
  return kernel.kernelFunc({ inputs, backend, attrs }) as tf.TensorInfo;
}
