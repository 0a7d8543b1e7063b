/**
 * The optional native GEMM accelerator (packages/core-tensor/native): a C++ addon built at install
 * time with `-march=native`, which multiplies float32 matrices on the wasm backend's heap in place,
 * on several threads. The wasm backend in Node runs XNNPACK on one thread with 128-bit SIMD, so the
 * addon is several times faster on AVX2 / AVX-512 machines (bench/kernels-matmul.ts measures it).
 * When the addon is missing, or `MODULAREVO_NATIVE=0`, the XNNPACK path serves.
 */
import * as os from 'os';
import * as path from 'path';

import * as tf from '@tensorflow/tfjs-core';

import { broadcastBatchIndex } from './mat-mul-plain';
import type { WasmBackend } from './wasm-internals';

type Sgemm = (
  memory: ArrayBufferLike,
  aByteOffset: number,
  bByteOffset: number,
  cByteOffset: number,
  batch: number,
  m: number,
  n: number,
  k: number,
  transposeA: boolean,
  transposeB: boolean,
  aBatchOffsets: Uint32Array,
  bBatchOffsets: Uint32Array,
  threads: number,
) => void;

/**
 * The addon's fused AdamW update (`native/src/adamw.h`): byte offsets into `memory` of the
 * parameter, moments, gradient, mask multiplier and keep flags (-1 for both without a mask) and
 * of the three outputs, the number of values, and the float64 scalars
 * `[decay, beta1, beta2, eps, stepSize, biasCorrection2Sqrt]`.
 */
export type NativeAdamW = (
  memory: ArrayBufferLike,
  parameter: number,
  expAvg: number,
  expAvgSq: number,
  gradient: number,
  multiplier: number,
  keep: number,
  parameterOut: number,
  expAvgOut: number,
  expAvgSqOut: number,
  n: number,
  scalars: Float64Array,
) => void;

/** Whether the native GEMM accelerator is in use, with its thread count or the reason it is not. */
export interface NativeGemmStatus {
  available: boolean;
  threads?: number;
  reason?: string;
}

// src/backend/kernels and dist/backend/kernels are both three levels below the package root
const ADDON_PATH = path.join(__dirname, '..', '..', '..', 'native', 'build', 'Release', 'modularevo_gemm.node');

let loaded: { sgemm?: Sgemm; adamw?: NativeAdamW; status: NativeGemmStatus } | undefined;
let enabled = true;

function load(): { sgemm?: Sgemm; adamw?: NativeAdamW; status: NativeGemmStatus } {
  if (process.env.MODULAREVO_NATIVE === '0') return { status: { available: false, reason: 'MODULAREVO_NATIVE=0' } };
  try {
    // an addon built before the AdamW update existed has no adamw: the JavaScript loop serves then
    const addon = require(ADDON_PATH) as { sgemm: Sgemm; adamw?: NativeAdamW };
    const threads = Math.max(1, Number(process.env.MODULAREVO_NATIVE_THREADS) || os.availableParallelism());
    return { sgemm: addon.sgemm, adamw: addon.adamw, status: { available: true, threads } };
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND'
      ? `not built (${ADDON_PATH} is missing; npm install builds it with node-gyp and a C++ compiler)`
      : `failed to load: ${(error as Error).message.split('\n')[0]}`;
    return { status: { available: false, reason } };
  }
}

/** Loads the addon once and reports whether it is in use. */
export function nativeGemmStatus(): NativeGemmStatus {
  loaded ??= load();
  if (!enabled && loaded.status.available) return { available: false, reason: 'disabled by setNativeGemmEnabled(false)' };
  return loaded.status;
}

/**
 * Turns the accelerator (its matrix products and its AdamW update) on or off for this process
 * (benchmarks and tests compare both paths). Turning it on has no effect when the addon is not
 * available.
 */
export function setNativeGemmEnabled(on: boolean): void {
  enabled = on;
}

/** Returns the addon's fused AdamW update when the accelerator is in use. */
export function nativeAdamW(): NativeAdamW | undefined {
  return nativeGemmStatus().available ? loaded?.adamw : undefined;
}

/** Returns the addon's `sgemm` when the accelerator is in use. */
export function nativeSgemm(): Sgemm | undefined {
  return nativeGemmStatus().available ? loaded?.sgemm : undefined;
}

/**
 * Multiplies float32 `op(a)` `[...batchA, m, k]` by `op(b)` `[...batchB, k, n]` (batch axes
 * broadcast, `op` transposes the last two axes when its flag is set) with the native addon, reading
 * both operands where they lie on the wasm heap. Returns a new tensor `[...batch, m, n]`.
 */
export function nativeBatchMatMul(
  backend: WasmBackend,
  sgemm: Sgemm,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  transposeA: boolean,
  transposeB: boolean,
): tf.TensorInfo {
  const [aRows, aCols] = a.shape.slice(-2);
  const [bRows, bCols] = b.shape.slice(-2);
  const [m, k] = transposeA ? [aCols, aRows] : [aRows, aCols];
  const [innerB, n] = transposeB ? [bCols, bRows] : [bRows, bCols];
  tf.util.assert(
    k === innerB,
    () => `Error in matMul: inner shapes (${k}) and (${innerB}) of tensors with shapes ${a.shape} and ${b.shape} and transposeA=${transposeA} and transposeB=${transposeB} must match.`,
  );

  const aOuter = a.shape.slice(0, -2);
  const bOuter = b.shape.slice(0, -2);
  const outer = tf.broadcast_util.assertAndGetBroadcastShape(aOuter, bOuter);
  const batch = tf.util.sizeFromShape(outer);
  const aOffsets = new Uint32Array(broadcastBatchIndex(outer, aOuter).map((entry) => entry * m * k));
  const bOffsets = new Uint32Array(broadcastBatchIndex(outer, bOuter).map((entry) => entry * k * n));

  // allocate first: an allocation can grow the heap, which replaces its ArrayBuffer
  const out = backend.makeOutput([...outer, m, n], 'float32');
  const memory = backend.wasm.HEAPU8.buffer;
  const offsetOf = (info: tf.TensorInfo) => backend.dataIdMap.get(info.dataId).memoryOffset;
  const threads = nativeGemmStatus().threads ?? 1;
  sgemm(memory, offsetOf(a), offsetOf(b), offsetOf(out), batch, m, n, k, transposeA, transposeB, aOffsets, bOffsets, threads);
  return out;
}
