/**
 * Helpers the tests of this package share: reading a T5 fixture's reference outputs and
 * comparing arrays at the fixture tolerances.
 */
import * as path from 'path';

import { SafetensorsFile } from '@modularevo/core-tensor';

/** The parts of a t5 fixture's `reference.json` the tests read. */
export interface T5Reference {
  input_ids: number[][];
  attention_mask: number[][];
  decoder_input_ids: number[][];
  labels_case: { labels: number[][]; decoder_input_ids_from_shift_right: number[][]; loss: number };
  generation: {
    max_new_tokens: number;
    greedy_hf_generate: { sequences: number[][]; args: { max_new_tokens: number } };
    beam_hf_generate: { sequences: number[][]; sequences_scores: number[]; args: Record<string, unknown> };
    beam_hf_generate_all_beams: { sequences: number[][]; sequences_scores: number[]; args: { num_return_sequences: number } };
  };
  checkpoint_keys: Record<string, string[]>;
}

/** Reads the float arrays of `reference.safetensors` in a fixture folder. */
export function readReferenceArrays(dir: string): Map<string, { shape: number[]; data: Float32Array }> {
  const file = SafetensorsFile.open(path.join(dir, 'reference.safetensors'));
  try {
    const arrays = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const [name, tensor] of file.readAll()) arrays.set(name, { shape: tensor.shape, data: tensor.data as Float32Array });
    return arrays;
  } finally {
    file.close();
  }
}

/**
 * Returns the worst excess over `|actual - expected| <= abs + rel * |expected|` (0 or less
 * means within tolerance), counting only rows whose `rowMask` entry is 1 when given. A row is
 * one slice of `rowSize` elements.
 */
export function worstExcess(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tolerance: { abs: number; rel: number },
  rowSize = 1,
  rowMask?: number[],
): number {
  let worst = -Infinity;
  for (let i = 0; i < expected.length; i++) {
    if (rowMask && rowMask[Math.floor(i / rowSize)] !== 1) continue;
    const excess = Math.abs(actual[i] - expected[i]) - (tolerance.abs + tolerance.rel * Math.abs(expected[i]));
    if (Number.isNaN(excess)) return Infinity;
    worst = Math.max(worst, excess);
  }
  return worst;
}

/** Tolerance of hidden states and logits: abs 1e-4 plus rel 1e-4. */
export const HIDDEN_TOLERANCE = { abs: 1e-4, rel: 1e-4 };
