/**
 * The sparse product kernels and the choice between them: the native addon (packages/cost/native,
 * C++ built by node-gyp at install time with `-march=native`, run on several threads) when it is
 * built, else the TypeScript kernel. `MODULAREVO_NATIVE=0` turns the addon off, as it does for
 * core-tensor's GEMM; `MODULAREVO_NATIVE_THREADS` sets its thread count (default: the number of
 * CPUs).
 */
import * as os from 'os';
import * as path from 'path';

import { BackendError } from '@modularevo/core-tensor';

import { csrNonzeros, type CsrMatrix } from './csr';
import { spmmTypeScript } from './kernel-typescript';

/** Name of a sparse kernel. */
export type SparseKernelName = 'native' | 'typescript';

/** The kernel in use, its threads and vector instructions, or why the native one is not used. */
export interface SparseKernelStatus {
  kernel: SparseKernelName;
  threads: number;
  /** Vector instructions the native kernel was compiled for (`AVX-512`, `AVX2`, `NEON`, ...). */
  instructionSet?: string;
  /** Reason the native kernel is not in use, when it is not. */
  reason?: string;
}

/** A weight matrix made ready for one kernel: built once, multiplied many times. */
export interface PreparedMatrix {
  readonly kernel: SparseKernelName;
  readonly rows: number;
  readonly cols: number;
  /** Stored entries. */
  readonly nonzeros: number;
  /** Computes `y [tokens, rows] = x [tokens, cols] W^T + bias`. */
  multiply(x: Float32Array, tokens: number, bias: Float32Array | undefined, y: Float32Array): void;
}

interface NativeAddon {
  prepare(rowPtr: Int32Array, colIdx: Int32Array, values: Float32Array, cols: number): unknown;
  spmm(handle: unknown, x: Float32Array, tokens: number, bias: Float32Array | null, y: Float32Array, threads: number): void;
  instructionSet(): string;
}

// src/sparse and dist/sparse are both two levels below the package root
const ADDON_PATH = path.join(__dirname, '..', '..', 'native', 'build', 'Release', 'modularevo_spmm.node');

let addon: { native?: NativeAddon; reason?: string } | undefined;
let forced: SparseKernelName | undefined;

function loadAddon(): { native?: NativeAddon; reason?: string } {
  if (process.env.MODULAREVO_NATIVE === '0') return { reason: 'MODULAREVO_NATIVE=0' };
  try {
    return { native: require(ADDON_PATH) as NativeAddon };
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND';
    return {
      reason: missing
        ? `not built (${ADDON_PATH} is missing; npm install builds it with node-gyp and a C++ compiler)`
        : `failed to load: ${(error as Error).message.split('\n')[0]}`,
    };
  }
}

function nativeThreads(): number {
  return Math.max(1, Number(process.env.MODULAREVO_NATIVE_THREADS) || os.availableParallelism());
}

/** Reports which kernel {@link prepareMatrix} uses now. */
export function sparseKernelStatus(): SparseKernelStatus {
  addon ??= loadAddon();
  if (forced === 'typescript') return { kernel: 'typescript', threads: 1, reason: 'chosen with setSparseKernel("typescript")' };
  if (addon.native) return { kernel: 'native', threads: nativeThreads(), instructionSet: addon.native.instructionSet() };
  return { kernel: 'typescript', threads: 1, reason: addon.reason };
}

/**
 * Chooses the kernel for matrices prepared from now on (benchmarks and tests compare both);
 * `undefined` restores the default (native when built).
 *
 * @throws BackendError when `native` is requested but the addon is not available.
 */
export function setSparseKernel(kernel: SparseKernelName | undefined): void {
  addon ??= loadAddon();
  if (kernel === 'native' && !addon.native) {
    throw new BackendError(`The native sparse kernel is not available: ${addon.reason}`);
  }
  forced = kernel;
}

/** Makes `matrix` ready for the kernel {@link sparseKernelStatus} reports. */
export function prepareMatrix(matrix: CsrMatrix): PreparedMatrix {
  const status = sparseKernelStatus();
  const native = addon?.native;
  const shape = { rows: matrix.rows, cols: matrix.cols, nonzeros: csrNonzeros(matrix) };
  if (status.kernel === 'native' && native) {
    // the addon keeps its own validated copy, so the JavaScript arrays can be collected
    const handle = native.prepare(matrix.rowPtr, matrix.colIdx, matrix.values, matrix.cols);
    const threads = status.threads;
    return { kernel: 'native', ...shape, multiply: (x, tokens, bias, y) => native.spmm(handle, x, tokens, bias ?? null, y, threads) };
  }
  return { kernel: 'typescript', ...shape, multiply: (x, tokens, bias, y) => spmmTypeScript(matrix, x, tokens, bias, y) };
}
