import { InvalidInputError } from '@modularevo/core-tensor';

/**
 * A seeded source of uniform numbers in [0, 1): core-tensor's `Rng` or any object with
 * `uniform()`. Pass one forked for data order, so other random draws do not shift it.
 */
export interface RandomSource {
  uniform(): number;
}

/** A function that returns the items in a new order (for callers that shuffle their own way). */
export type ShuffleFunction = <T>(items: readonly T[]) => T[];

/** A random source or a shuffle function. */
export type Shuffler = RandomSource | ShuffleFunction;

/**
 * Returns a shuffled copy of `items`: the Fisher-Yates shuffle drawing one `uniform()` per
 * position from the last down, or the caller's shuffle function. The same seed gives the same
 * order. Throws `InvalidInputError` when a shuffle function drops or adds items.
 */
export function shuffle<T>(items: readonly T[], shuffler: Shuffler): T[] {
  if (typeof shuffler === 'function') {
    const shuffled = shuffler(items);
    if (shuffled.length !== items.length) {
      throw new InvalidInputError(`The shuffle function returned ${shuffled.length} items for ${items.length}: it must return every item once`);
    }
    return shuffled;
  }

  const out = items.slice();
  for (let i = out.length - 1; i > 0; i -= 1) {
    const j = Math.floor(shuffler.uniform() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}
