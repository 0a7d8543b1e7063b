/**
 * Comparisons shared by the tests of this package.
 */
import * as fs from 'fs';
import * as path from 'path';

import * as tf from '@tensorflow/tfjs-core';

/** Largest violation of |actual - expected| <= abs + rel * |expected| over the positions where `include` holds. */
export function worstMismatch(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tolerance: { abs: number; rel: number },
  include: (index: number) => boolean = () => true,
): { index: number; actual: number; expected: number; excess: number } | undefined {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} differs from expected ${expected.length}`);
  let worst: { index: number; actual: number; expected: number; excess: number } | undefined;
  for (let i = 0; i < expected.length; i++) {
    if (!include(i)) continue;
    const allowed = tolerance.abs + tolerance.rel * Math.abs(expected[i]);
    const excess = Math.abs(actual[i] - expected[i]) - allowed;
    if (!(excess <= 0) && (!worst || excess > worst.excess || Number.isNaN(excess))) {
      worst = { index: i, actual: actual[i], expected: expected[i], excess };
    }
  }
  return worst;
}

/** Reads the values of a float32 tensor; the tensor stays alive. */
export function values(tensor: tf.Tensor): Float32Array {
  return tensor.dataSync() as Float32Array;
}

/** A small seeded uniform generator (mulberry32) for reproducible test weights. */
export function seededUniform(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Copies the files of a model folder into a fresh temporary folder that a test may change. */
export function copyModelFolder(from: string, to: string): string {
  fs.mkdirSync(to, { recursive: true });
  for (const name of fs.readdirSync(from)) fs.copyFileSync(path.join(from, name), path.join(to, name));
  return to;
}
