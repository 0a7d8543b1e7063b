/**
 * Exact k-th smallest magnitude of many float32 values without keeping them all in memory.
 * Magnitudes are ranked by their IEEE bit patterns, which order like the values for non-negative
 * floats. A histogram of the high 20 bits finds the bucket that contains the k-th value, and a
 * second count of the low 11 bits inside that bucket finds the value itself.
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

/** Position of the k-th smallest magnitude after the first histogram pass. */
export interface BucketLocation {
  /** High-bit bucket that contains the k-th smallest magnitude. */
  bucket: number;
  /** Number of entries in lower buckets. */
  countBelow: number;
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

  /** Returns the bucket holding the k-th smallest magnitude (1 <= k <= total). */
  locate(k: number): BucketLocation {
    let below = 0;
    for (let bucket = 0; bucket < HIGH_BUCKETS; bucket++) {
      const count = bucket === 0 ? this.lowest : this.counts[bucket];
      if (below + count >= k) return { bucket, countBelow: below };
      below += count;
    }
    throw new RangeError(`rank ${k} exceeds the ${this.total} counted magnitudes`);
  }
}

/** Histogram of the low 11 magnitude bits of the entries in one high-bit bucket (the second pass). */
export class BucketRefinement {
  private readonly counts = new Float64Array(LOW_BUCKETS);

  constructor(
    readonly location: BucketLocation,
    readonly k: number,
  ) {}

  /** Returns whether a magnitude bit pattern falls into the bucket. */
  contains(bits: number): boolean {
    return bits >>> LOW_BITS === this.location.bucket;
  }

  /** Counts one magnitude bit pattern that falls into the bucket. */
  addBits(bits: number): void {
    this.counts[bits & (LOW_BUCKETS - 1)]++;
  }

  /** Counts the magnitudes of `values` that fall into the bucket. */
  add(values: Float32Array): void {
    const bits = bitsOf(values);
    const bucket = this.location.bucket;
    for (let i = 0; i < bits.length; i++) {
      const magnitude = bits[i] & ABS_MASK;
      if (magnitude >>> LOW_BITS === bucket) this.counts[magnitude & (LOW_BUCKETS - 1)]++;
    }
  }

  /** Returns the exact k-th smallest magnitude once every entry of the bucket was counted. */
  result(): KthMagnitude {
    let below = this.location.countBelow;
    for (let low = 0; low < LOW_BUCKETS; low++) {
      const count = this.counts[low];
      if (below + count >= this.k) {
        return { bits: (this.location.bucket << LOW_BITS) | low, countLess: below, countEqual: count };
      }
      below += count;
    }
    throw new RangeError(`rank ${this.k} was not found in bucket ${this.location.bucket}: a pass missed some values`);
  }
}

/** Returns the k-th smallest magnitude (1 <= k <= total length) over `arrays` held in memory. */
export function kthMagnitude(arrays: readonly Float32Array[], k: number): KthMagnitude {
  const histogram = new MagnitudeHistogram();
  for (const values of arrays) histogram.add(values);
  const refinement = new BucketRefinement(histogram.locate(k), k);
  for (const values of arrays) refinement.add(values);
  return refinement.result();
}

/** Returns the bit pattern of |value| for a float32 value. */
export function magnitudeBits(value: number): number {
  scratch[0] = value;
  return scratchBits[0] & ABS_MASK;
}

const scratch = new Float32Array(1);
const scratchBits = new Uint32Array(scratch.buffer);

export { ABS_MASK, LOW_BITS };
