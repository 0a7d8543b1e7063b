/** Test helpers that read the golden masking fixture (not part of the public API). */
import * as tf from '@tensorflow/tfjs-core';
import { loadSafetensors, type StateDict } from '@modularevo/core-tensor';
import { fixture, readJsonFixture } from '@modularevo/test-support';

import { startBackend } from './backend';

/** The tensors and the JSON description of the masking fixture. */
export interface MaskingFixture {
  json: any;
  tensors: StateDict;
  /** Returns fixture tensor `name` as a tfjs tensor; throws naming the file when it is absent. */
  tensor(name: string): tf.Tensor;
  /** Returns the raw elements of fixture tensor `name`. */
  values(name: string): Float32Array;
}

/** Starts the backend and reads `masking/masking.json` and `masking/masking.safetensors`. */
export async function loadMaskingFixture(): Promise<MaskingFixture> {
  await startBackend();
  const file = fixture('masking', 'masking.safetensors');
  const tensors = loadSafetensors(file);
  const json = readJsonFixture('masking', 'masking.json');

  const values = (name: string): Float32Array => {
    const raw = tensors.get(name);
    if (!raw) throw new Error(`Tensor "${name}" not found in ${file}`);
    return raw.data as Float32Array;
  };
  const tensor = (name: string): tf.Tensor => tf.tensor(values(name), tensors.get(name)!.shape, 'float32');
  return { json, tensors, tensor, values };
}

/** Expects equal shapes and every element within `tolerance` (0 means bit-equal values). */
export function expectTensorClose(actual: tf.Tensor | Float32Array, expected: tf.Tensor | Float32Array, tolerance: number): void {
  if (actual instanceof tf.Tensor && expected instanceof tf.Tensor) expect(actual.shape).toEqual(expected.shape);
  const got = actual instanceof tf.Tensor ? actual.dataSync() : actual;
  const want = expected instanceof tf.Tensor ? expected.dataSync() : expected;
  expect(got.length).toBe(want.length);
  let worst = 0;
  let worstIndex = -1;
  for (let i = 0; i < want.length; i++) {
    const difference = Math.abs(got[i] - want[i]);
    const equal = tolerance === 0 ? Object.is(got[i], want[i]) || got[i] === want[i] : difference <= tolerance;
    if (!equal && (worstIndex < 0 || difference > worst)) {
      worst = difference;
      worstIndex = i;
    }
  }
  if (worstIndex >= 0) {
    throw new Error(
      `Element ${worstIndex}: got ${got[worstIndex]}, expected ${want[worstIndex]} (difference ${worst}, tolerance ${tolerance})`,
    );
  }
}

/** Expects `actual` within `tolerance` of `expected` (0 means equal), naming `label` on failure. */
export function expectScalarClose(label: string, actual: number, expected: number, tolerance: number): void {
  const ok = tolerance === 0 ? actual === expected : Math.abs(actual - expected) <= tolerance;
  if (!ok) throw new Error(`${label}: got ${actual}, expected ${expected} (tolerance ${tolerance})`);
}
