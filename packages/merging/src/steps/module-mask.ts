import { MismatchError } from '@modularevo/core-tensor';

/**
 * The module mask of one fine-tuned model: one byte per parameter entry, 1 where the module keeps
 * the weight (and mask-guided fine-tuning may change it) and 0 elsewhere. Either a map from
 * parameter name to mask, or a function given the parameter's name and shape that returns its
 * mask. A parameter without a mask is outside the module: its task vector is dropped.
 */
export type MaskSource = ReadonlyMap<string, Uint8Array> | ((name: string, shape: readonly number[]) => Uint8Array | undefined);

/** Returns the mask of parameter `name`, looked up under the name and under `<name>_mask` (the original key). */
export function lookupMask(source: MaskSource, name: string, shape: readonly number[]): Uint8Array | undefined {
  const get = typeof source === 'function' ? (key: string) => source(key, shape) : (key: string) => source.get(key);
  return get(name) ?? get(`${name}_mask`);
}

/** Throws a MismatchError unless `mask` has one entry per entry of the parameter `name`. */
export function checkMaskLength(mask: Uint8Array, entries: number, name: string): void {
  if (mask.length !== entries) {
    throw new MismatchError(
      `Module mask of "${name}" has ${mask.length} entries but the parameter has ${entries}; the mask belongs to another model`,
    );
  }
}

/**
 * Zeroes the task vector entries outside `mask` (same length) and returns how many nonzero
 * entries that dropped: entries the fine-tuning changed outside its module.
 */
export function restrictToMask(deltas: Float32Array, mask: Uint8Array): number {
  let changed = 0;
  for (let i = 0; i < deltas.length; i++) {
    if (mask[i] === 0 && deltas[i] !== 0) {
      changed++;
      deltas[i] = 0;
    }
  }
  return changed;
}

/** Returns the number of nonzero entries of `values`. */
export function countNonZero(values: Float32Array): number {
  let count = 0;
  for (let i = 0; i < values.length; i++) if (values[i] !== 0) count++;
  return count;
}

/**
 * Adds `coefficient * delta` into `sum` at the entries inside `mask` only (float32), skipping
 * the entries the module leaves untouched. Without a mask every entry is added.
 */
export function addMaskedScaled(sum: Float32Array, deltas: Float32Array, mask: Uint8Array | undefined, coefficient: number): void {
  const scale = Math.fround(coefficient);
  if (mask === undefined) {
    for (let i = 0; i < sum.length; i++) sum[i] = sum[i] + Math.fround(deltas[i] * scale);
    return;
  }
  for (let i = 0; i < sum.length; i++) {
    if (mask[i] !== 0) sum[i] = sum[i] + Math.fround(deltas[i] * scale);
  }
}
