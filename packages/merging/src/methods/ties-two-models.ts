/**
 * TIES kernels for the common case of two fine-tuned models, each one loop over the chunk that
 * reads both task vectors once. They compute exactly what the general step sequence computes
 * (count against the threshold ranges, scale, sum, count signs; trim, scale, elect, disjoint mean,
 * add to base),
 * which the tests check, and run about twice as fast in V8 because intermediate rows are never
 * written back to memory.
 */
import type { SignCounts } from '../steps/consensus';
import { ABS_MASK, LOW_BITS, bitsOf, magnitudeBits, magnitudeOfBits, type RangeRefinement } from '../steps/selection';
import type { TrimCursor } from '../steps/trim';
import type { PendingEntries } from './pending-entries';

// The loops read these module constants rather than the imported bindings, because V8 folds a
// module's own constants into the code but reloads an imported binding on every iteration.
const MAGNITUDE_MASK = ABS_MASK;
const BUCKET_SHIFT = LOW_BITS;

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
  // the loop reads only locals and module constants, because V8 reloads object fields on
  // every iteration
  const firstBits = bitsOf(first);
  const secondBits = bitsOf(second);
  const [firstRange, secondRange] = refinements;
  const firstLow = firstRange.low;
  const secondLow = secondRange.low;
  const firstHigh = firstRange.high;
  const secondHigh = secondRange.high;
  const firstSpan = firstHigh - firstLow;
  const secondSpan = secondHigh - secondLow;
  const firstScale = Math.fround(coefficients[0]);
  const secondScale = Math.fround(coefficients[1]);
  const rows = [first, second];
  const length = first.length;
  let firstBelow = 0;
  let secondBelow = 0;
  let positive = 0;
  let negative = 0;

  for (let i = 0; i < length; i++) {
    const firstBucket = (firstBits[i] & MAGNITUDE_MASK) >>> BUCKET_SHIFT;
    const secondBucket = (secondBits[i] & MAGNITUDE_MASK) >>> BUCKET_SHIFT;
    firstBelow += +(firstBucket < firstLow);
    secondBelow += +(secondBucket < secondLow);

    // rare: an entry inside a range waits for the exact threshold (below the range, the
    // unsigned bucket offset wraps to a large value)
    const firstInside = ((firstBucket - firstLow) >>> 0) <= firstSpan;
    const secondInside = ((secondBucket - secondLow) >>> 0) <= secondSpan;
    if (firstInside || secondInside) {
      if (firstInside) firstRange.addBits(firstBits[i] & MAGNITUDE_MASK);
      if (secondInside) secondRange.addBits(secondBits[i] & MAGNITUDE_MASK);
      if (pending !== undefined) pending.push(offset + i, rows, i);
      continue;
    }

    // decided: kept above the range, dropped below it
    const a = Math.fround(first[i] * firstScale) * +(firstBucket > firstHigh);
    const b = Math.fround(second[i] * secondScale) * +(secondBucket > secondHigh);
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
 * Merge pass over one chunk of two models, whose task vectors are `first - reference` and
 * `second - reference`. It trims each task vector with its cursor and scales it, elects the sign
 * per entry (`majority` where the sum is zero), takes the disjoint mean and writes
 * `base + scaling * mean` into `base`. The reference is the base itself when the rows hold
 * fine-tuned values, which saves the engine a pass over the rows. It is zeros when they hold task
 * vectors already, since `x - 0` is `x` exactly, signed zeros included.
 */
export function mergeTwo(
  first: Float32Array,
  second: Float32Array,
  reference: Float32Array,
  cursors: readonly TrimCursor[],
  coefficients: readonly number[],
  majority: number,
  scaling: number,
  base: Float32Array,
): void {
  // the loop reads only locals and module constants, as in refineAndCountSignsOfTwo
  const [firstCursor, secondCursor] = cursors;
  const firstThreshold = thresholdValue(firstCursor.rule.thresholdBits);
  const secondThreshold = thresholdValue(secondCursor.rule.thresholdBits);
  const firstScale = Math.fround(coefficients[0]);
  const secondScale = Math.fround(coefficients[1]);
  const outer = Math.fround(scaling);
  const unscaled = scaling === 1;
  const majorityPositive = +(majority > 0);
  const majorityNegative = +(majority < 0);
  const length = first.length;
  let firstKept = 0;
  let secondKept = 0;

  for (let i = 0; i < length; i++) {
    // task vector entries (float32 magnitudes compare like their bit patterns)
    const firstDelta = Math.fround(first[i] - reference[i]);
    const secondDelta = Math.fround(second[i] - reference[i]);
    const firstMagnitude = Math.abs(firstDelta);
    const secondMagnitude = Math.abs(secondDelta);

    // trim; entries exactly at a threshold are rare and counted in flattened order
    let firstKeep = +(firstMagnitude > firstThreshold);
    let secondKeep = +(secondMagnitude > secondThreshold);
    if (firstMagnitude === firstThreshold) firstKeep = +firstCursor.keeps(magnitudeBits(firstDelta));
    if (secondMagnitude === secondThreshold) secondKeep = +secondCursor.keeps(magnitudeBits(secondDelta));
    firstKept += firstKeep;
    secondKept += secondKeep;

    // scale, elect the sign (the majority where the sum is zero), take the disjoint mean. The
    // signs are unpredictable, so 0/1 flags replace branches (x * 0.5 equals x / 2 exactly).
    const a = Math.fround(firstDelta * firstScale) * firstKeep;
    const b = Math.fround(secondDelta * secondScale) * secondKeep;
    const sum = Math.fround(a + b);
    const zero = +(sum === 0);
    const positive = +(sum > 0) | (zero & majorityPositive);
    const negative = +(sum < 0) | (zero & majorityNegative);
    const firstAgrees = (+(a > 0) & positive) | (+(a < 0) & negative);
    const secondAgrees = (+(b > 0) & positive) | (+(b < 0) & negative);
    const agreeing = Math.fround(a * firstAgrees + b * secondAgrees);
    const mean = agreeing * (1 - 0.5 * (firstAgrees & secondAgrees));

    base[i] = base[i] + (unscaled ? mean : Math.fround(outer * Math.fround(mean)));
  }
  firstCursor.kept += firstKept;
  secondCursor.kept += secondKept;
}

/**
 * Returns the magnitude of a threshold bit pattern as a number that compares with magnitudes as
 * the patterns do: -1 keeps every entry and Infinity drops every finite one.
 */
function thresholdValue(bits: number): number {
  if (bits < 0) return -1;
  if (bits > MAGNITUDE_MASK) return Infinity;
  return magnitudeOfBits(bits);
}
