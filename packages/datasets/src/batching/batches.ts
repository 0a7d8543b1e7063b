import { InvalidInputError } from '@modularevo/core-tensor';

import { shuffle, type Shuffler } from './shuffle';

/** Options of {@link batches}. */
export interface BatchOptions {
  /** Shuffle the items first (one new order per call, so per epoch when called per epoch). */
  shuffle?: Shuffler;
  /** Drop a last batch smaller than `batchSize` (PyTorch's `drop_last`). Default false. */
  dropLast?: boolean;
}

/**
 * Splits `items` into consecutive batches of `batchSize`, after an optional seeded shuffle.
 * Throws `InvalidInputError` for a batch size that is not a positive integer.
 */
export function batches<T>(items: readonly T[], batchSize: number, options: BatchOptions = {}): T[][] {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new InvalidInputError(`Invalid batch size ${batchSize}: use a positive integer`);

  const ordered = options.shuffle ? shuffle(items, options.shuffle) : items;
  const out: T[][] = [];
  for (let start = 0; start < ordered.length; start += batchSize) {
    const batch = ordered.slice(start, start + batchSize);
    if (batch.length < batchSize && options.dropLast) break;
    out.push(batch);
  }
  return out;
}
