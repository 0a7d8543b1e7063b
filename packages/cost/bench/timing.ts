/** Timing and machine description shared by the cost benchmarks. */
import * as os from 'os';

import * as tf from '@tensorflow/tfjs-core';
import type { BackendInfo } from '@modularevo/core-tensor';

import { median, sparseKernelStatus } from '../src';

/** Medians of repeated runs, in milliseconds. */
export interface Times {
  /** Wall time. */
  median: number;
  /**
   * CPU time of the process (user and system, every thread). Unlike wall time it does not grow
   * while other processes hold the cores, so it compares the work of two paths on a busy machine.
   */
  cpu: number;
}

/** Runs `fn` and returns its wall time in milliseconds. */
export function timeOnce(fn: () => void): number {
  const started = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - started) / 1e6;
}

/** Runs `fn` and returns its wall time and process CPU time in milliseconds. */
export function measureOnce(fn: () => void): { wall: number; cpu: number } {
  const cpu = process.cpuUsage();
  const wall = timeOnce(fn);
  const used = process.cpuUsage(cpu);
  return { wall, cpu: (used.user + used.system) / 1000 };
}

/**
 * Times each variant `repeats` times after one untimed warm-up run of each. The variants take
 * turns in every round, so load from other processes slows them alike.
 */
export function compare<Name extends string>(variants: Record<Name, () => void>, repeats: number): Record<Name, Times> {
  const names = Object.keys(variants) as Name[];
  for (const name of names) variants[name]();

  const runs = Object.fromEntries(names.map((name) => [name, [] as { wall: number; cpu: number }[]])) as Record<Name, { wall: number; cpu: number }[]>;
  for (let i = 0; i < repeats; i++) {
    for (const name of names) runs[name].push(measureOnce(variants[name]));
  }
  const summary = (name: Name): Times => ({ median: median(runs[name].map((run) => run.wall)), cpu: median(runs[name].map((run) => run.cpu)) });
  return Object.fromEntries(names.map((name) => [name, summary(name)])) as Record<Name, Times>;
}

/** Returns `run` as a function that disposes what it computes, after reading it back so the work is done. */
export function readBack(run: () => tf.Tensor | void): () => void {
  return () => {
    const y = tf.tidy(run);
    if (!y) return;
    y.dataSync();
    y.dispose();
  };
}

/** Returns the 1-minute load average, with two decimals. */
export function loadAverage(): string {
  return os.loadavg()[0].toFixed(2);
}

/** Describes the CPU, Node, the backend and both kernels' threads, one fact per line. */
export function describeMachine(backend: BackendInfo): string[] {
  const cpus = os.cpus();
  const sparse = sparseKernelStatus();
  const gemm = backend.nativeGemm?.available ? `core-tensor's native GEMM on ${backend.nativeGemm.threads} threads` : `backend kernels (${backend.nativeGemm?.reason})`;
  return [
    `CPU: ${cpus.length} x ${cpus[0]?.model ?? 'unknown'}, Node ${process.version}, tfjs ${tf.version_core}`,
    `dense: ${backend.name} backend on ${backend.device}, ${gemm}`,
    `sparse: ${sparse.kernel} kernel${sparse.instructionSet ? ` (${sparse.instructionSet})` : ''} on ${sparse.threads} threads${sparse.reason ? ` (${sparse.reason})` : ''}`,
  ];
}
