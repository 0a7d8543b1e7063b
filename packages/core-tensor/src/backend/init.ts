import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';

import { BackendError, InvalidInputError } from '../errors';
import { getLogger } from '../log';
import { checkGpuDevice, detectNvidiaDriver } from './gpu';
import { registerGradients } from './gradients';
import { registerWasmKernels, type WasmKernelPatch } from './kernels';
import { nativeGemmStatus, type NativeGemmStatus } from './kernels/native-gemm';

const log = getLogger('backend');

/** Backends in the order they are tried. */
export const BACKEND_ORDER = ['node-gpu', 'node', 'wasm', 'cpu'] as const;

/** A backend choice as `MODULAREVO_BACKEND` and `--backend` accept it. */
export type BackendName = (typeof BACKEND_ORDER)[number];

/** The started backend, its device, and the reasons the backends before it were skipped. */
export interface BackendInfo {
  name: BackendName;
  /** The tfjs backend name (`tensorflow`, `wasm`, `cpu`). */
  tfjsBackend: string;
  /**
   * Wall time of selection in milliseconds: registering gradients and kernels, probing the skipped
   * backends and starting the chosen one.
   */
  startupMs: number;
  skipped: { name: BackendName; reason: string }[];
  /** Device description, for example `CPU (WebAssembly SIMD, 1 thread)`. */
  device: string;
  /** Kernels core-tensor added to or replaced in this backend (only the wasm backend has any). */
  kernels: WasmKernelPatch[];
  /** Kernels whose gradient core-tensor registered on top of those of `@tensorflow/tfjs`. */
  gradients: string[];
  /** The native GEMM accelerator of the wasm backend (absent for other backends). */
  nativeGemm?: NativeGemmStatus;
}

/** Options of {@link initBackend}. */
export interface InitBackendOptions {
  /** Backend to force (`node-gpu`, `node`, `wasm` or `cpu`); defaults to `MODULAREVO_BACKEND`. */
  backend?: string;
}

/** Access to installed packages and drivers for backend selection, replaced in tests. */
export interface BackendEnvironment {
  /** Loads an npm package (the native backends register themselves on load). */
  loadModule(name: string): unknown;
  /** True or false when it is known whether an NVIDIA driver is loaded. */
  nvidiaDriver(): boolean | undefined;
}

const NATIVE_PACKAGES = { 'node-gpu': '@tensorflow/tfjs-node-gpu', node: '@tensorflow/tfjs-node' } as const;

const DEFAULT_ENVIRONMENT: BackendEnvironment = {
  loadModule: (name) => require(name),
  nvidiaDriver: () => detectNvidiaDriver(),
};

/** A backend that cannot start here; auto selection moves on to the next one. */
class BackendSkip extends Error {}

let current: BackendInfo | undefined;

/**
 * Starts the first backend that works, in the order node-gpu, node, wasm, cpu (or the one
 * `options.backend` / `MODULAREVO_BACKEND` forces), registers the gradients and wasm kernels that
 * training needs, and logs the choice once. Calling it again returns the running backend.
 *
 * @throws InvalidInputError when the requested backend name is unknown.
 * @throws BackendError when a forced backend cannot start, when no backend starts, or when
 *   tfjs-node-gpu loads on a machine with an NVIDIA driver but TensorFlow cannot use the GPU
 *   (instead of training on the CPU without saying so).
 */
export async function initBackend(options: InitBackendOptions = {}): Promise<BackendInfo> {
  const requested = options.backend ?? process.env.MODULAREVO_BACKEND;
  if (current && (!requested || requested === current.name)) return current;
  if (requested && !(BACKEND_ORDER as readonly string[]).includes(requested)) {
    throw new InvalidInputError(`Invalid backend "${requested}": use one of ${BACKEND_ORDER.join(', ')}`);
  }

  current = await selectBackend(requested as BackendName | undefined, DEFAULT_ENVIRONMENT);
  const skipped = current.skipped.map((s) => `${s.name} (${s.reason})`).join('; ');
  const native = current.nativeGemm;
  const gemm = !native ? '' : native.available ? `, native GEMM on ${native.threads} threads` : `, native GEMM not used: ${native.reason}`;
  log.info(
    `backend ${current.name} started in ${current.startupMs} ms on ${current.device}${gemm}` +
      (skipped ? `; skipped ${skipped}` : ''),
  );
  for (const patch of current.kernels) log.debug(`wasm kernel ${patch.kernelName} ${patch.change}: ${patch.reason}`);
  return current;
}

/**
 * Starts `requested`, or the first backend of {@link BACKEND_ORDER} that works, without logging
 * or caching. {@link initBackend} is the entry point; this one takes the environment as an
 * argument so that tests can mock the native packages.
 */
export async function selectBackend(
  requested: BackendName | undefined,
  environment: BackendEnvironment,
): Promise<BackendInfo> {
  const started = Date.now();
  const gradients = registerGradients();
  const wasmKernels = registerWasmKernels();

  const candidates: readonly BackendName[] = requested ? [requested] : BACKEND_ORDER;
  const skipped: BackendInfo['skipped'] = [];
  for (const name of candidates) {
    let device: string;
    try {
      device = await startBackend(name, environment);
    } catch (error) {
      if (!(error instanceof BackendSkip)) throw error;
      if (requested) throw new BackendError(`Backend ${name} could not start: ${error.message}. ${hintFor(name)}`);
      skipped.push({ name, reason: error.message });
      continue;
    }

    return {
      name,
      tfjsBackend: tf.getBackend(),
      startupMs: Date.now() - started,
      skipped,
      device,
      kernels: name === 'wasm' ? wasmKernels : [],
      gradients,
      nativeGemm: name === 'wasm' ? nativeGemmStatus() : undefined,
    };
  }

  const reasons = skipped.map((s) => `${s.name}: ${s.reason}`).join('; ');
  throw new BackendError(`No tensor backend could start (${reasons})`);
}

/** Starts one backend and returns its device description, or throws {@link BackendSkip}. */
async function startBackend(name: BackendName, environment: BackendEnvironment): Promise<string> {
  switch (name) {
    case 'node-gpu':
      return startNodeGpu(environment);
    case 'node':
      loadNative(name, environment);
      await activate('tensorflow');
      return 'CPU (TensorFlow native)';
    case 'wasm': {
      await activate('wasm');
      const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
      const threads = getThreadsCount();
      return `CPU (WebAssembly${simd ? ' SIMD' : ''}, ${threads} thread${threads === 1 ? '' : 's'})`;
    }
    case 'cpu':
      await activate('cpu');
      // the cpu backend's first write prints advice to install tfjs-node, which selection already tried
      (tf.backend() as unknown as { firstUse?: boolean }).firstUse = false;
      return 'CPU (JavaScript)';
  }
}

async function startNodeGpu(environment: BackendEnvironment): Promise<string> {
  // without a driver there is no GPU to find: skip before loading a TensorFlow build for CUDA
  if (environment.nvidiaDriver() === false) {
    throw new BackendSkip('no NVIDIA driver is loaded, /proc/driver/nvidia/version is missing');
  }
  loadNative('node-gpu', environment);
  await activate('tensorflow');

  const gpu = checkGpuDevice(tf.backend());
  if (!gpu.usable) {
    // never leave a CPU fallback running under the GPU backend's name
    tf.removeBackend('tensorflow');
    throw new BackendError(
      `Backend node-gpu started without a GPU: ${gpu.reason}. Fix the CUDA installation, ` +
        'or set MODULAREVO_BACKEND=node (or wasm) to train on the CPU',
    );
  }
  return 'GPU (TensorFlow, CUDA)';
}

function loadNative(name: 'node' | 'node-gpu', environment: BackendEnvironment): void {
  const packageName = NATIVE_PACKAGES[name];
  try {
    environment.loadModule(packageName);
  } catch (error) {
    const message = (error as Error).message.split('\n')[0];
    const missing = (error as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' && message.includes(packageName);
    throw new BackendSkip(missing ? `${packageName} is not installed` : `${packageName} failed to load: ${message}`);
  }
  if (!tf.findBackendFactory('tensorflow')) {
    throw new BackendSkip(`${packageName} loaded but registered no "tensorflow" backend`);
  }
}

async function activate(tfjsBackend: string): Promise<void> {
  let ok: boolean;
  try {
    ok = await tf.setBackend(tfjsBackend);
  } catch (error) {
    throw new BackendSkip(`tf.setBackend("${tfjsBackend}") failed: ${(error as Error).message}`);
  }
  if (!ok) throw new BackendSkip(`tf.setBackend("${tfjsBackend}") returned false (tfjs printed the cause above)`);
  await tf.ready();
}

function hintFor(name: BackendName): string {
  switch (name) {
    case 'node-gpu':
    case 'node':
      return `Install ${NATIVE_PACKAGES[name]} 4.22.0 (its install step downloads TensorFlow), or choose wasm`;
    default:
      return 'Reinstall @modularevo/core-tensor, or choose another backend';
  }
}
