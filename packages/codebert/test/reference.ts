/**
 * Reading the reference outputs of a model fixture and comparing against them, shared by the
 * tests of this package.
 */
import * as fs from 'fs';
import * as path from 'path';

import { loadSafetensors, toFloat32, type RawTensor } from '@modularevo/core-tensor';

/** `reference.json` of a RoBERTa fixture; fields that a folder lacks are undefined. */
export interface RobertaReference {
  model_class: string;
  input_ids: number[][];
  attention_mask: number[][];
  position_ids_used: number[][];
  mlm_labels?: number[][];
  mlm_loss?: number;
  arrays_in_reference_safetensors: Record<string, unknown>;
  checkpoint_keys: Record<string, string[]>;
}

/** Reads `reference.json` and `reference.safetensors` of a fixture folder. */
export function readReference(dir: string): { reference: RobertaReference; arrays: Map<string, RawTensor> } {
  const reference = JSON.parse(fs.readFileSync(path.join(dir, 'reference.json'), 'utf8')) as RobertaReference;
  const arrays = loadSafetensors(path.join(dir, 'reference.safetensors'));
  return { reference, arrays };
}

/** Float32 values of a reference array. */
export function values(tensor: RawTensor): Float32Array {
  return toFloat32(tensor.dtype, tensor.data);
}

/** Returns the largest violation of |actual - expected| <= abs + rel * |expected| over the included positions, or undefined. */
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
    const excess = Math.abs(actual[i] - expected[i]) - (tolerance.abs + tolerance.rel * Math.abs(expected[i]));
    if (!(excess <= 0) && (!worst || excess > worst.excess || Number.isNaN(excess))) worst = { index: i, actual: actual[i], expected: expected[i], excess };
  }
  return worst;
}

/** Copies `config.json`, the tokenizer files and only the weights file `weights` of a fixture into `to`. */
export function copyWithWeights(from: string, to: string, weights: string): string {
  fs.mkdirSync(to, { recursive: true });
  for (const name of fs.readdirSync(from)) {
    const isWeights = name.endsWith('.safetensors') || name.endsWith('.bin');
    if (isWeights && name !== weights) continue;
    if (name.startsWith('reference.')) continue;
    fs.copyFileSync(path.join(from, name), path.join(to, name));
  }
  return to;
}
