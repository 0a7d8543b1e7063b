/**
 * Exact k-th smallest magnitude of many float32 values without keeping them all in memory.
 * Magnitudes are ranked by their IEEE bit patterns, which order like the values for non-negative
 * floats. A histogram of the high 20 bits finds the bucket that contains the k-th value (or, from
 * a sample, a range of buckets that very likely does), and a second count of the low 11 bits
 * inside that range finds the value itself.
 */

const LOW_BITS = 11;
const HIGH_BUCKETS = 1 << (31 - LOW_BITS);
const LOW_BUCKETS = 1 << LOW_BITS;
const ABS_MASK = 0x7fffffff;

/** Returns the magnitude bit patterns (sign cleared) of `values`, viewing the same memory. */
export function bitsOf(values: Float32Array): Uint32Array {
  return new Uint32Array(values.buffer, values.byteOffset, values.length);
}

/** Returns the float32 value of a magnitude bit pattern. */
export function magnitudeOfBits(bits: number): number {
  const word = new Uint32Array([bits]);
  return new Float32Array(word.buffer)[0];
}

/** The k-th smallest magnitude and how many entries are below and equal to it. */
export interface KthMagnitude {
  /** Bit pattern of the k-th smallest magnitude (1-based k). */
  bits: number;
  /** Number of entries whose magnitude is smaller. */
  countLess: number;
  /** Number of entries whose magnitude is equal. */
  countEqual: number;
}

/** Histogram of the high 20 magnitude bits, filled in a first pass over the values. */
export class MagnitudeHistogram {
  // Uint32 counts increment faster than float64 ones. Bucket 0 (zeros and the tiniest values) is
  // moved to a float64 total after every call, since sparse task vectors fill it by the billion.
  // NOTE: any other bucket overflows only past 2^32 entries of nearly equal magnitude.
  private readonly counts = new Uint32Array(HIGH_BUCKETS);
  private lowest = 0;
  total = 0;

  /** Counts the magnitudes of `values` (fewer than 2^32 per call). */
  add(values: Float32Array): void {
    const bits = bitsOf(values);
    const counts = this.counts;
    for (let i = 0; i < bits.length; i++) {
      counts[(bits[i] & ABS_MASK) >>> LOW_BITS]++;
    }
    this.lowest += counts[0];
    counts[0] = 0;
    this.total += values.length;
  }

  /** Returns the high-bit bucket of the k-th smallest counted magnitude (1 <= k <= total). */
  bucketAt(k: number): number {
    let below = 0;
    for (let bucket = 0; bucket < HIGH_BUCKETS; bucket++) {
      below += bucket === 0 ? this.lowest : this.counts[bucket];
      if (below >= k) return bucket;
    }
    throw new RangeError(`rank ${k} exceeds the ${this.total} counted magnitudes`);
  }
}

/**
 * Second counting pass: the number of magnitudes below a range of high-bit buckets, and the low
 * bits of every magnitude inside the range, so the k-th smallest magnitude is found exactly when
 * it lies in the range. Counts are kept only for the buckets that occur.
 */
export class RangeRefinement {
  private readonly counts = new Map<number, Float64Array>();
  /** Number of magnitudes in buckets below `low`. */
  below = 0;
  /** Number of magnitudes inside the range. */
  inRange = 0;

  /** Covers the high-bit buckets `low` to `high` inclusive. */
  constructor(
    readonly low: number,
    readonly high: number,
  ) {}

  /** Number of buckets inside the range that hold counts, a measure of the memory used. */
  get occupiedBuckets(): number {
    return this.counts.size;
  }

  /** Counts one magnitude bit pattern inside the range. */
  addBits(bits: number): void {
    const bucket = bits >>> LOW_BITS;
    let counts = this.counts.get(bucket);
    if (!counts) {
      counts = new Float64Array(LOW_BUCKETS);
      this.counts.set(bucket, counts);
    }
    counts[bits & (LOW_BUCKETS - 1)]++;
    this.inRange++;
  }

  /** Counts the magnitudes of `values`: those below the range, and the low bits of those inside it. */
  add(values: Float32Array): void {
    const bits = bitsOf(values);
    for (let i = 0; i < bits.length; i++) {
      const magnitude = bits[i] & ABS_MASK;
      const bucket = magnitude >>> LOW_BITS;
      if (bucket < this.low) this.below++;
      else if (bucket <= this.high) this.addBits(magnitude);
    }
  }

  /** Returns the exact k-th smallest magnitude, or undefined when it lies outside the range. */
  result(k: number): KthMagnitude | undefined {
    if (k <= this.below || k > this.below + this.inRange) return undefined;
    let below = this.below;
    for (const bucket of [...this.counts.keys()].sort((a, b) => a - b)) {
      const counts = this.counts.get(bucket)!;
      for (let low = 0; low < LOW_BUCKETS; low++) {
        if (below + counts[low] >= k) return { bits: (bucket << LOW_BITS) | low, countLess: below, countEqual: counts[low] };
        below += counts[low];
      }
    }
    return undefined;
  }
}

/** Returns the k-th smallest magnitude (1 <= k <= total length) over `arrays` held in memory. */
export function kthMagnitude(arrays: readonly Float32Array[], k: number): KthMagnitude {
  const histogram = new MagnitudeHistogram();
  for (const values of arrays) histogram.add(values);
  const bucket = histogram.bucketAt(k);
  const refinement = new RangeRefinement(bucket, bucket);
  for (const values of arrays) refinement.add(values);
  return refinement.result(k)!;
}

/** Returns the bit pattern of |value| for a float32 value. */
export function magnitudeBits(value: number): number {
  scratch[0] = value;
  return scratchBits[0] & ABS_MASK;
}

const scratch = new Float32Array(1);
const scratchBits = new Uint32Array(scratch.buffer);

export { ABS_MASK, LOW_BITS };
