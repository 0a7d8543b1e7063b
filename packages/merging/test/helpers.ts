/**
 * Small seeded models for the merging tests: state dicts, fine-tunes of them, and model folders
 * written the way `save_pretrained` lays them out.
 */
import * as fs from 'fs';
import * as path from 'path';

import { fromFloat32, saveSafetensors, toFloat32, type DType, type RawTensor, type StateDict } from '@modularevo/core-tensor';
import { temporaryDir } from '@modularevo/test-support';

/** A seeded uniform generator in [0, 1) (mulberry32), so test models are reproducible. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return ((z ^ (z >>> 14)) >>> 0) / 4294967296;
  };
}

/** Parameter shapes of a tiny GPT-Neo-like model with a classification head. */
export const TINY_SHAPES: [string, number[]][] = [
  ['transformer.wte.weight', [50, 8]],
  ['transformer.h.0.ln_1.weight', [8]],
  ['transformer.h.0.attn.attention.q_proj.weight', [8, 8]],
  ['transformer.h.0.attn.attention.out_proj.bias', [8]],
  ['transformer.h.0.mlp.c_fc.weight', [16, 8]],
  ['transformer.h.0.mlp.c_fc.bias', [16]],
];

/** Returns a random F32 state dict with the given shapes (values in [-1, 1)). */
export function randomStateDict(seed: number, shapes: [string, number[]][] = TINY_SHAPES): StateDict {
  const random = seededRandom(seed);
  const state: StateDict = new Map();
  for (const [name, shape] of shapes) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = random() * 2 - 1;
    state.set(name, { dtype: 'F32', shape: [...shape], data });
  }
  return state;
}

/**
 * Returns `base` plus small random deltas of magnitude up to `scale`. A fraction `zeroFraction`
 * of the entries is left unchanged, so the task vector has exact zeros there.
 */
export function fineTune(base: StateDict, seed: number, scale = 0.01, zeroFraction = 0): StateDict {
  const random = seededRandom(seed);
  const tuned: StateDict = new Map();
  for (const [name, tensor] of base) {
    const values = toFloat32(tensor.dtype, tensor.data);
    const data = new Float32Array(values.length);
    for (let i = 0; i < data.length; i++) {
      const unchanged = random() < zeroFraction;
      const delta = (random() * 2 - 1) * scale;
      data[i] = unchanged ? values[i] : values[i] + delta;
    }
    tuned.set(name, { dtype: 'F32', shape: [...tensor.shape], data });
  }
  return tuned;
}

/** Returns a copy of `state` with every float tensor converted to `dtype`. */
export function withDType(state: StateDict, dtype: DType): StateDict {
  const converted: StateDict = new Map();
  for (const [name, tensor] of state) {
    converted.set(name, { dtype, shape: [...tensor.shape], data: fromFloat32(dtype, toFloat32(tensor.dtype, tensor.data)) });
  }
  return converted;
}

/** Returns the float32 values of a tensor of `state`, failing with the name when it is absent. */
export function valuesOf(state: StateDict, name: string): Float32Array {
  const tensor: RawTensor | undefined = state.get(name);
  if (!tensor) throw new Error(`tensor "${name}" missing from the state dict (has ${[...state.keys()].join(', ')})`);
  return toFloat32(tensor.dtype, tensor.data);
}

/** Writes a model folder: config.json, tokenizer files and model.safetensors. Returns its path. */
export function writeModelFolder(state: StateDict, dir = temporaryDir('merging-model-')): string {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ model_type: 'gpt_neo', hidden_size: 8, vocab_size: 50 }));
  fs.writeFileSync(path.join(dir, 'vocab.json'), JSON.stringify({ a: 0, b: 1 }));
  fs.writeFileSync(path.join(dir, 'merges.txt'), '#version: 0.2\n');
  fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify({ model_max_length: 64 }));
  saveSafetensors(path.join(dir, 'model.safetensors'), state, { format: 'pt' });
  return dir;
}

/** Lists a folder's entries, including hidden temporary ones, sorted. */
export function listFolder(dir: string): string[] {
  return fs.existsSync(dir) ? fs.readdirSync(dir).sort() : [];
}
