/**
 * Kernels that core-tensor adds to, or replaces in, the wasm backend of tfjs 4.22, so that the
 * training of every architecture runs there and takes the fast matmul path.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';

import { fastBatchMatMul } from './batch-mat-mul';
import { fastFusedMatMul } from './fused-mat-mul';
import { batchedGatherV2 } from './gather-v2';
import { sharedIdentity } from './identity';
import { dtypeSafeOneHot } from './one-hot';
import { dtypeSafeSelect } from './select';
import { leadingAxesSum } from './sum';
import { fastTile } from './tile';
import { unsortedSegmentSum } from './unsorted-segment-sum';
import type { WasmKernelFunc } from './wasm-internals';

/** A kernel core-tensor registers for the wasm backend, and why. */
export interface WasmKernelPatch {
  kernelName: string;
  /** `added` where the wasm backend has no such kernel, `replaced` where its kernel is wrapped. */
  change: 'added' | 'replaced';
  reason: string;
}

const REPLACEMENTS: { kernelName: string; build: (original: WasmKernelFunc) => tf.KernelFunc; reason: string }[] = [
  {
    kernelName: tf.BatchMatMul,
    build: fastBatchMatMul,
    reason: 'transpose flags and batches ran a scalar loop instead of XNNPACK',
  },
  {
    kernelName: tf._FusedMatMul,
    build: fastFusedMatMul,
    reason: 'transpose flags and batches ran a scalar loop instead of XNNPACK',
  },
  { kernelName: tf.Select, build: dtypeSafeSelect, reason: 'branches of different dtypes gave wrong values' },
  { kernelName: tf.OneHot, build: dtypeSafeOneHot, reason: 'float32 output held the bits of int32 values' },
  { kernelName: tf.GatherV2, build: batchedGatherV2, reason: 'batchDims > 0 read out of bounds' },
  { kernelName: tf.Sum, build: leadingAxesSum, reason: 'sums over leading axes (bias gradients) transposed a full copy first' },
  { kernelName: tf.Tile, build: fastTile, reason: 'about 180 ns per element; every broadcast in tf.where tiles' },
  {
    kernelName: tf.Identity,
    build: sharedIdentity,
    reason: 'copied every tensor saved for backpropagation; now shares its memory as the cpu backend does',
  },
];

const ADDITIONS: { kernelName: string; kernelFunc: tf.KernelFunc; reason: string }[] = [
  { kernelName: tf.UnsortedSegmentSum, kernelFunc: unsortedSegmentSum, reason: 'missing; the gradient of gather needs it' },
];

// Marks replacement kernel functions, so that a second registration does not wrap a wrapper.
const REPLACED = Symbol('modularevo.replaced');

let patches: WasmKernelPatch[] | undefined;

/**
 * Registers the added and replaced wasm kernels, once per process, and returns what changed.
 * Safe to call before or after the wasm backend starts: the replacements keep the original
 * kernels' setup functions.
 */
export function registerWasmKernels(): WasmKernelPatch[] {
  if (patches) return patches;
  patches = [];

  for (const { kernelName, build, reason } of REPLACEMENTS) {
    const original = tf.getKernel(kernelName, 'wasm');
    if (!original || (original.kernelFunc as unknown as Record<symbol, boolean>)[REPLACED]) continue;
    const kernelFunc = build(original.kernelFunc as unknown as WasmKernelFunc);
    (kernelFunc as unknown as Record<symbol, boolean>)[REPLACED] = true;
    tf.unregisterKernel(kernelName, 'wasm');
    tf.registerKernel({ ...original, kernelFunc });
    patches.push({ kernelName, change: 'replaced', reason });
  }

  for (const { kernelName, kernelFunc, reason } of ADDITIONS) {
    if (tf.getKernel(kernelName, 'wasm')) continue;
    tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc });
    patches.push({ kernelName, change: 'added', reason });
  }
  return patches;
}
