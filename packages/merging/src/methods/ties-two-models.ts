/**
 * TIES kernels for the common case of two fine-tuned models, each one loop over the chunk that
 * reads both task vectors once. They compute exactly what the general step sequence computes
 * (mark bucket entries, scale, sum, count signs; trim, scale, elect, disjoint mean, add to base),
 * which the tests check, and run about twice as fast in V8 because intermediate rows are never
 * written back to memory.
 */
import type { SignCounts } from '../steps/consensus';
import { ABS_MASK, LOW_BITS, bitsOf, type BucketRefinement } from '../steps/selection';
import type { TrimCursor } from '../steps/trim';
import type { PendingEntries } from './pending-entries';

/**
 * Second histogram pass over one chunk of two task vectors: counts the low bits of the entries in
 * each model's threshold bucket, stores the entries where either model is in its bucket in
 * `pending`, and adds the elected signs of all other entries to `signs`.
 */
export function refineAndCountSignsOfTwo(
  first: Float32Array,
  second: Float32Array,
  refinements: readonly BucketRefinement[],
  coefficients: readonly number[],
  offset: number,
  pending: PendingEntries,
  signs: SignCounts,
): void {
  const firstBits = bitsOf(first);
  const secondBits = bitsOf(second);
  const firstBucket = refinements[0].location.bucket;
  const secondBucket = refinements[1].location.bucket;
  const firstScale = Math.fround(coefficients[0]);
  const secondScale = Math.fround(coefficients[1]);
  const rows = [first, second];
  let positive = 0;
  let negative = 0;

  for (let i = 0; i < first.length; i++) {
    const firstMagnitude = firstBits[i] & ABS_MASK;
    const secondMagnitude = secondBits[i] & ABS_MASK;
    const firstHigh = firstMagnitude >>> LOW_BITS;
    const secondHigh = secondMagnitude >>> LOW_BITS;

    // rare: an entry inside a threshold bucket waits for the exact threshold
    if (firstHigh === firstBucket || secondHigh === secondBucket) {
      if (firstHigh === firstBucket) refinements[0].addBits(firstMagnitude);
      if (secondHigh === secondBucket) refinements[1].addBits(secondMagnitude);
      pending.push(offset + i, rows, i);
      continue;
    }

    // decided: kept above the bucket, dropped below it
    const a = Math.fround(first[i] * firstScale) * +(firstHigh > firstBucket);
    const b = Math.fround(second[i] * secondScale) * +(secondHigh > secondBucket);
    const sum = Math.fround(a + b);
    positive += +(sum > 0);
    negative += +(sum < 0);
  }
  signs.positive += positive;
  signs.negative += negative;
}

/**
 * Merge pass over one chunk of two task vectors: trims each with its cursor, scales it, elects
 * the sign per entry (`majority` where the sum is zero), takes the disjoint mean and writes
 * `base + scaling * mean` into `base`.
 */
export function mergeTwo(
  first: Float32Array,
  second: Float32Array,
  cursors: readonly TrimCursor[],
  coefficients: readonly number[],
  majority: number,
  scaling: number,
  base: Float32Array,
): void {
  const firstBits = bitsOf(first);
  const secondBits = bitsOf(second);
  const firstThreshold = cursors[0].rule.thresholdBits;
  const secondThreshold = cursors[1].rule.thresholdBits;
  const firstScale = Math.fround(coefficients[0]);
  const secondScale = Math.fround(coefficients[1]);
  const outer = Math.fround(scaling);
  let firstKept = 0;
  let secondKept = 0;

  for (let i = 0; i < first.length; i++) {
    // trim; entries exactly at a threshold are rare and counted in flattened order
    const firstMagnitude = firstBits[i] & ABS_MASK;
    const secondMagnitude = secondBits[i] & ABS_MASK;
    let firstKeep = +(firstMagnitude > firstThreshold);
    let secondKeep = +(secondMagnitude > secondThreshold);
    if (firstMagnitude === firstThreshold) firstKeep = +cursors[0].keeps(firstMagnitude);
    if (secondMagnitude === secondThreshold) secondKeep = +cursors[1].keeps(secondMagnitude);
    firstKept += firstKeep;
    secondKept += secondKeep;

    // scale, elect, disjoint mean
    const a = Math.fround(first[i] * firstScale) * firstKeep;
    const b = Math.fround(second[i] * secondScale) * secondKeep;
    const sum = Math.fround(a + b);
    const sign = +(sum > 0) - +(sum < 0) + +(sum === 0) * majority;
    const firstAgrees = +(a * sign > 0);
    const secondAgrees = +(b * sign > 0);
    const agreeing = Math.fround(a * firstAgrees + b * secondAgrees);
    const mean = firstAgrees + secondAgrees > 1 ? agreeing / 2 : agreeing;

    base[i] = base[i] + (scaling === 1 ? mean : Math.fround(outer * Math.fround(mean)));
  }
  cursors[0].kept += firstKept;
  cursors[1].kept += secondKept;
}
