/**
 * Test helpers: run a computation on the wasm and cpu backends, and compare arrays.
 */
import * as tf from '@tensorflow/tfjs-core';

import { initBackend } from '../init';

/** The two backends every kernel test runs on. */
export const BACKENDS = ['wasm', 'cpu'] as const;

/** Runs `compute` on `backend` and returns its outputs as plain arrays with their shapes. */
export async function runOn(
  backend: (typeof BACKENDS)[number],
  compute: () => tf.Tensor | tf.Tensor[],
): Promise<{ shape: number[]; values: number[] }[]> {
  await initBackend({ backend });
  const outputs = tf.tidy(compute);
  const list = Array.isArray(outputs) ? outputs : [outputs];
  const result = list.map((t) => ({ shape: t.shape, values: Array.from(t.dataSync()) }));
  tf.dispose(list);
  return result;
}

/** Largest absolute difference between two arrays of the same length (Infinity if lengths differ). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (Number.isNaN(d)) return Number.isNaN(a[i]) && Number.isNaN(b[i]) ? max : Infinity;
    max = Math.max(max, d);
  }
  return max;
}

/** Central finite differences of a float64 function `f` at `x`, one entry per coordinate. */
export function finiteDifferences(f: (x: number[]) => number, x: number[], step = 1e-6): number[] {
  return x.map((_, i) => {
    const plus = x.slice();
    const minus = x.slice();
    plus[i] += step;
    minus[i] -= step;
    return (f(plus) - f(minus)) / (2 * step);
  });
}

/** The error function in float64, by its Maclaurin series (accurate to 1e-12 for |x| <= 3). */
export function erf(x: number): number {
  let term = x;
  let sum = x;
  for (let n = 1; n < 100; n++) {
    term *= (-x * x) / n;
    sum += term / (2 * n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

/** Deterministic pseudo-random values in [-1, 1) for test inputs. */
export function testValues(count: number, seed: number): number[] {
  let state = seed >>> 0 || 1;
  return Array.from({ length: count }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 31 - 1;
  });
}
