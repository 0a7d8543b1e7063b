import { uniform32 } from '../random';
import { ABS_MASK, bitsOf, kthMagnitude } from './selection';
import { trimCount } from './trim';

/**
 * DARE drop steps on the task vector entries of one tensor, in place. The drop is per tensor,
 * as in the original ModularEvo code.
 */

/**
 * Zeroes each entry with probability `rate` (independent Bernoulli draws from the stream `key`,
 * where entry i of the array is entry `first + i` of its tensor), and with `rescale` divides the
 * survivors by `1 - rate` in float32, as rescaleSurvivors does.
 */
export function dropRandom(deltas: Float32Array, rate: number, key: number, first: number, rescale: boolean): void {
  if (rate <= 0) return;
  if (rate >= 1) {
    deltas.fill(0);
    return;
  }
  // An entry is dropped when its uniform 32-bit draw is below rate * 2^32. Dividing the float32
  // product once in float64 and storing it rounds like the float32 division of the original.
  const threshold = rate * 0x100000000;
  const divisor = rescale ? Math.fround(1 - rate) : 1;
  for (let i = 0; i < deltas.length; i++) {
    deltas[i] = (deltas[i] * +(uniform32(key, first + i) >= threshold)) / divisor;
  }
}

/**
 * Zeroes the `floor(n * rate)` smallest-magnitude entries. As in the original, every entry whose
 * magnitude equals the k-th smallest is zeroed too, so ties can drop more than k entries.
 */
export function dropMagnitude(deltas: Float32Array, rate: number): void {
  const k = trimCount(deltas.length, rate);
  if (k <= 0) return;
  const threshold = kthMagnitude([deltas], k).bits;
  const bits = bitsOf(deltas);
  for (let i = 0; i < deltas.length; i++) {
    deltas[i] = deltas[i] * +((bits[i] & ABS_MASK) > threshold);
  }
}

/** Divides every entry by `1 - rate` (float32), so the expected task vector is unchanged; rate 1 is left as is. */
export function rescaleSurvivors(deltas: Float32Array, rate: number): void {
  if (rate <= 0 || rate >= 1) return;
  const divisor = Math.fround(1 - rate);
  for (let i = 0; i < deltas.length; i++) deltas[i] = deltas[i] / divisor;
}

/**
 * Rebuilds the sparsified model as `base + delta` in float32, as the original writes the DARE
 * result back into the model before merging. With `output` `values` the row becomes the model's
 * values; with `deltas` it becomes the recomputed task vector `(base + delta) - base`.
 */
export function rebuildFromBase(row: Float32Array, base: Float32Array, output: 'values' | 'deltas'): void {
  if (output === 'values') {
    for (let i = 0; i < row.length; i++) row[i] = base[i] + row[i];
    return;
  }
  for (let i = 0; i < row.length; i++) row[i] = Math.fround(base[i] + row[i]) - base[i];
}
