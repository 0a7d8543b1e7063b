import { InvalidInputError } from '@modularevo/core-tensor';

import { shuffle, type Shuffler } from './shuffle';

/**
 * Splits a training set into `stages` disjoint shards for multi-stage evolution, as
 * ModularEvo's `split_dataset` does: shuffle once with the seeded source, then cut into
 * `floor(n / stages)` items per shard, the last shard taking the remainder. Every item is in
 * exactly one shard, and the same seed gives the same shards.
 *
 * Throws `InvalidInputError` when `stages` is not a positive integer or exceeds the item count
 * (a shard would be empty).
 */
export function stageShards<T>(items: readonly T[], stages: number, shuffler: Shuffler): T[][] {
  if (!Number.isInteger(stages) || stages < 1) throw new InvalidInputError(`Invalid number of stages ${stages}: use a positive integer`);
  if (stages > items.length) {
    throw new InvalidInputError(`Cannot split ${items.length} training examples into ${stages} stages: every stage needs at least one example`);
  }

  const shuffled = shuffle(items, shuffler);
  const size = Math.floor(shuffled.length / stages);
  return Array.from({ length: stages }, (_, stage) => shuffled.slice(stage * size, stage === stages - 1 ? shuffled.length : (stage + 1) * size));
}
