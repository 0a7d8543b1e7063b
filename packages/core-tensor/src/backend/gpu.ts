/**
 * Checks that `@tensorflow/tfjs-node-gpu` really runs on a GPU. TensorFlow may fail to load the
 * CUDA libraries because they are missing or of another version than the one it was built for.
 * The binding then falls back to the CPU and only prints a warning from native code, so training
 * would run many times slower without an error.
 */
import * as fs from 'fs';

/** Whether a started `tensorflow` backend computes on a GPU, and if not, why. */
export interface GpuCheck {
  usable: boolean;
  reason?: string;
}

// tfjs-node-gpu 4.22 loads libtensorflow 2.9.1; TensorFlow's tested build configurations list
// CUDA 11.2 and cuDNN 8.1 for the 2.9 releases.
const CUDA_REQUIREMENT = 'tfjs-node-gpu 4.22 loads TensorFlow 2.9.1, which needs the CUDA 11.2 and cuDNN 8.1 libraries';

/**
 * Reads the GPU state of a started `tensorflow` backend (`NodeJSKernelBackend` of tfjs-node or
 * tfjs-node-gpu 4.22, whose `isUsingGpuDevice` is true when TensorFlow listed a GPU device).
 */
export function checkGpuDevice(backend: unknown): GpuCheck {
  const state = backend as { isGPUPackage?: unknown; isUsingGpuDevice?: unknown } | null;
  if (state?.isUsingGpuDevice === true) return { usable: true };
  if (state?.isUsingGpuDevice === undefined) {
    return { usable: false, reason: 'the tensorflow backend does not report its device (not a tfjs-node 4.x backend)' };
  }
  return {
    usable: false,
    reason:
      `TensorFlow found no usable GPU device and would run on the CPU. ${CUDA_REQUIREMENT} on the library path; ` +
      `the "Could not load dynamic library" lines that TensorFlow printed above name the missing one`,
  };
}

/**
 * Tells whether an NVIDIA driver is loaded: true or false on Linux (from
 * `/proc/driver/nvidia/version`), undefined on other systems, where this is not checked.
 */
export function detectNvidiaDriver(platform: string = process.platform, exists = fs.existsSync): boolean | undefined {
  if (platform !== 'linux') return undefined;
  return exists('/proc/driver/nvidia/version');
}
