import * as tf from '@tensorflow/tfjs-core';

import { BackendError, InvalidInputError } from '../errors';
import { checkGpuDevice, detectNvidiaDriver } from './gpu';
import { initBackend, selectBackend, type BackendEnvironment } from './init';

/** Stands in for the `NodeJSKernelBackend` of tfjs-node(-gpu): only what the GPU check reads. */
class FakeTensorflowBackend extends tf.KernelBackend {
  constructor(
    readonly isGPUPackage: boolean,
    readonly isUsingGpuDevice: boolean,
  ) {
    super();
  }
  override dispose(): void {}
}

/** Builds an environment whose `installed` native packages register a fake backend on load. */
function environment(options: { installed?: Partial<Record<string, { gpu: boolean }>>; driver?: boolean }): BackendEnvironment & {
  loaded: string[];
} {
  const loaded: string[] = [];
  return {
    loaded,
    nvidiaDriver: () => options.driver,
    loadModule: (name) => {
      const fake = options.installed?.[name];
      if (!fake) {
        const error = new Error(`Cannot find module '${name}'`) as NodeJS.ErrnoException;
        error.code = 'MODULE_NOT_FOUND';
        throw error;
      }
      loaded.push(name);
      tf.registerBackend('tensorflow', () => new FakeTensorflowBackend(name.endsWith('-gpu'), fake.gpu));
      return {};
    },
  };
}

afterEach(async () => {
  if (tf.findBackendFactory('tensorflow')) tf.removeBackend('tensorflow');
  await tf.setBackend('wasm');
});

describe('selectBackend', () => {
  it('falls back to wasm when the native packages are missing', async () => {
    const info = await selectBackend(undefined, environment({ driver: false }));
    expect(info.name).toBe('wasm');
    expect(info.tfjsBackend).toBe('wasm');
    expect(info.device).toMatch(/^CPU \(WebAssembly/);
    expect(info.startupMs).toBeGreaterThanOrEqual(0);
    expect(info.skipped).toEqual([
      { name: 'node-gpu', reason: 'no NVIDIA driver is loaded, /proc/driver/nvidia/version is missing' },
      { name: 'node', reason: '@tensorflow/tfjs-node is not installed' },
    ]);
    expect(info.kernels.map((k) => k.kernelName)).toContain('UnsortedSegmentSum');
  });

  it('does not load tfjs-node-gpu without a driver', async () => {
    const env = environment({ driver: false, installed: { '@tensorflow/tfjs-node-gpu': { gpu: false } } });
    await selectBackend(undefined, env);
    expect(env.loaded).toEqual([]);
  });

  it('chooses node-gpu when TensorFlow reports a GPU', async () => {
    const env = environment({ driver: true, installed: { '@tensorflow/tfjs-node-gpu': { gpu: true } } });
    const info = await selectBackend(undefined, env);
    expect(info.name).toBe('node-gpu');
    expect(info.tfjsBackend).toBe('tensorflow');
    expect(info.device).toBe('GPU (TensorFlow, CUDA)');
    expect(info.kernels).toEqual([]);
  });

  it('fails when tfjs-node-gpu falls back to the CPU', async () => {
    const env = environment({ driver: true, installed: { '@tensorflow/tfjs-node-gpu': { gpu: false } } });
    const failure = selectBackend(undefined, env);
    await expect(failure).rejects.toThrow(BackendError);
    await expect(selectBackend(undefined, env)).rejects.toThrow(/found no usable GPU device.*MODULAREVO_BACKEND=node/s);
    expect(tf.findBackendFactory('tensorflow')).toBeFalsy();
  });

  it('fails for forced node-gpu on an unknown system without a GPU', async () => {
    const env = environment({ driver: undefined, installed: { '@tensorflow/tfjs-node-gpu': { gpu: false } } });
    await expect(selectBackend('node-gpu', env)).rejects.toThrow(/started without a GPU/);
  });

  it('chooses node on the CPU when only tfjs-node is installed', async () => {
    const env = environment({ driver: false, installed: { '@tensorflow/tfjs-node': { gpu: false } } });
    const info = await selectBackend(undefined, env);
    expect(info.name).toBe('node');
    expect(info.device).toBe('CPU (TensorFlow native)');
  });

  it('fails for a forced backend that is not installed', async () => {
    const failure = selectBackend('node', environment({}));
    await expect(failure).rejects.toThrow(BackendError);
    await expect(selectBackend('node', environment({}))).rejects.toThrow(
      'Backend node could not start: @tensorflow/tfjs-node is not installed. Install @tensorflow/tfjs-node 4.22.0',
    );
  });

  it('fails for forced node-gpu without a driver', async () => {
    await expect(selectBackend('node-gpu', environment({ driver: false }))).rejects.toThrow(/no NVIDIA driver/);
  });

  it('reports a package that fails to load', async () => {
    const env: BackendEnvironment = {
      nvidiaDriver: () => false,
      loadModule: () => {
        throw new Error('libtensorflow.so.2: cannot open shared object file\nsecond line');
      },
    };
    await expect(selectBackend('node', env)).rejects.toThrow(
      '@tensorflow/tfjs-node failed to load: libtensorflow.so.2: cannot open shared object file.',
    );
  });
});

describe('initBackend', () => {
  it('rejects an unknown backend name', async () => {
    await expect(initBackend({ backend: 'webgl' })).rejects.toThrow(InvalidInputError);
  });

  it('returns the running backend on a second call', async () => {
    const first = await initBackend({ backend: 'cpu' });
    expect(await initBackend({ backend: 'cpu' })).toBe(first);
    expect(tf.getBackend()).toBe('cpu');
    expect(first.gradients).toContain('BatchMatMul');
  });
});

describe('checkGpuDevice', () => {
  it('accepts a backend on a GPU', () => {
    expect(checkGpuDevice({ isGPUPackage: true, isUsingGpuDevice: true })).toEqual({ usable: true });
  });

  it('explains a CPU fallback', () => {
    const check = checkGpuDevice({ isGPUPackage: true, isUsingGpuDevice: false });
    expect(check.usable).toBe(false);
    expect(check.reason).toMatch(/CUDA 11.2 and cuDNN 8.1/);
  });

  it('rejects a backend that does not report its device', () => {
    expect(checkGpuDevice({}).usable).toBe(false);
  });
});

describe('detectNvidiaDriver', () => {
  it('reads the driver file on Linux only', () => {
    expect(detectNvidiaDriver('linux', () => true)).toBe(true);
    expect(detectNvidiaDriver('linux', () => false)).toBe(false);
    expect(detectNvidiaDriver('win32', () => true)).toBeUndefined();
  });
});
