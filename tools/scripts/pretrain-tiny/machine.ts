/** The machine a run trained on, for `training.json`, so its timings can be compared. */
import * as os from 'os';

import * as tf from '@tensorflow/tfjs-core';

import type { BackendInfo } from '@modularevo/core-tensor';

/** Hardware, software and load of a run. */
export interface MachineRecord {
  cpu: string;
  cpus: number;
  memory_gib: number;
  platform: string;
  node: string;
  tfjs_core: string;
  backend: string;
  device: string;
  /** Threads of the native GEMM that the wasm backend uses for matrix products, or why it is off. */
  native_gemm: string;
  /** One-minute load average when training started and when it ended (other work on the machine slows steps). */
  load_average_start: number;
  load_average_end?: number;
}

/** Describes this machine and the started backend. */
export function describeMachine(backend: BackendInfo): MachineRecord {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cpus: cpus.length,
    memory_gib: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    node: process.version,
    tfjs_core: tf.version_core,
    backend: backend.name,
    device: backend.device,
    native_gemm: describeNativeGemm(backend),
    load_average_start: round(os.loadavg()[0], 2),
  };
}

function describeNativeGemm(backend: BackendInfo): string {
  const status = backend.nativeGemm;
  if (!status) return 'not used by this backend';
  return status.available ? `${status.threads ?? 1} threads` : `off (${status.reason ?? 'unavailable'})`;
}

/** Returns the current one-minute load average. */
export function loadAverage(): number {
  return round(os.loadavg()[0], 2);
}

/** Rounds to `digits` decimals, for readable JSON. */
export function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}
