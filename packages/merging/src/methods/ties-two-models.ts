/**
 * TIES kernels for the common case of two fine-tuned models, each one loop over the chunk that
 * reads both task vectors once. They compute exactly what the general step sequence computes
 * (count against the threshold ranges, scale, sum, count signs; trim, scale, elect, disjoint mean,
 * add to base),
 * which the tests check, and run about twice as fast in V8 because intermediate rows are never
 * written back to memory.
 */
import type { SignCounts } from '../steps/consensus';
import { ABS_MASK, LOW_BITS, bitsOf, type RangeRefinement } from '../steps/selection';
import type { TrimCursor } from '../steps/trim';
import type { PendingEntries } from './pending-entries';

/**
 * Second pass over one chunk of two task vectors: counts each model's magnitudes below its bucket
 * range and the low bits of those inside it, stores the entries where either model is inside its
 * range in `pending` (unless it is undefined), and adds the elected signs of all other entries to `signs`.
 */
export function refineAndCountSignsOfTwo(
  first: Float32Array,
  second: Float32Array,
  refinements: readonly RangeRefinement[],
  coefficients: readonly number[],
  offset: number,
  pending: PendingEntries | undefined,
  signs: SignCounts,
): void {
  const firstBits = bitsOf(first);
  const secondBits = bitsOf(second);
  const [firstRange, secondRange] = refinements;
  const firstLow = firstRange.low;
  const secondLow = secondRange.low;
  const firstSpan = firstRange.high - firstLow;
  const secondSpan = secondRange.high - secondLow;
  const firstScale = Math.fround(coefficients[0]);
  const secondScale = Math.fround(coefficients[1]);
  const rows = [first, second];
  let firstBelow = 0;
  let secondBelow = 0;
  let positive = 0;
  let negative = 0;

  for (let i = 0; i < first.length; i++) {
    const firstMagnitude = firstBits[i] & ABS_MASK;
    const secondMagnitude = secondBits[i] & ABS_MASK;
    // bucket offsets from the range start; below the range they wrap to large unsigned values
    const firstOffset = ((firstMagnitude >>> LOW_BITS) - firstLow) >>> 0;
    const secondOffset = ((secondMagnitude >>> LOW_BITS) - secondLow) >>> 0;
    firstBelow += +((firstMagnitude >>> LOW_BITS) < firstLow);
    secondBelow += +((secondMagnitude >>> LOW_BITS) < secondLow);

    // rare: an entry inside a range waits for the exact threshold
    if (firstOffset <= firstSpan || secondOffset <= secondSpan) {
      if (firstOffset <= firstSpan) firstRange.addBits(firstMagnitude);
      if (secondOffset <= secondSpan) secondRange.addBits(secondMagnitude);
      pending?.push(offset + i, rows, i);
      continue;
    }

    // decided: kept above the range, dropped below it
    const a = Math.fround(first[i] * firstScale) * +((firstMagnitude >>> LOW_BITS) > firstRange.high);
    const b = Math.fround(second[i] * secondScale) * +((secondMagnitude >>> LOW_BITS) > secondRange.high);
    const sum = Math.fround(a + b);
    positive += +(sum > 0);
    negative += +(sum < 0);
  }
  firstRange.below += firstBelow;
  secondRange.below += secondBelow;
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
