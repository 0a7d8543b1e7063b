import { mersenne, unsafeUniformIntDistribution, type RandomGenerator } from 'pure-rand';

import { InvalidInputError } from '../errors';

const MAX_SEED = 0xffffffff;

// Float32 uniform draws keep 24 random bits, so every value is exact in float32 and stays below 1.
const LOW_24_BITS = 0xffffff;
const TWO_POW_MINUS_24 = 2 ** -24;
const TWO_POW_26 = 2 ** 26;
const TWO_POW_MINUS_53 = 2 ** -53;

/**
 * A seeded random number generator (MT19937, the generator behind PyTorch's CPU `torch.rand`
 * and NumPy's legacy `RandomState`), computed in plain JavaScript so that the same seed gives
 * the same numbers on every tfjs backend and machine.
 *
 * Use one `fork(label)` per purpose (data order, dropout, mask init, DARE). A fork's stream
 * depends only on the root seed and the chain of labels, not on how many numbers the parent or
 * any sibling has drawn, so adding draws in one consumer never shifts another.
 *
 * The root stream of `createRng(seed)` reproduces the reference streams: `fillUniform` gives the
 * float32 values of `torch.manual_seed(seed); torch.rand(n)` (PyTorch CPU generator), and
 * `uniform` the values of NumPy's `RandomState(seed).random_sample()` (checked against PyTorch
 * 1.13 and NumPy 2.4). Forks have their own seeds, so they match neither.
 *
 * tfjs random ops (`tf.randomUniform`, `tf.randomNormal`, `tf.dropout`) draw in JavaScript with
 * seedrandom's Alea generator (tfjs-core 4.22 has no random kernels), so a seeded call repeats on
 * every backend. But each call restarts from its seed, so repeated calls need distinct seeds,
 * and an unseeded call is not reproducible. Draw reproducible values here and upload them with
 * `tf.tensor`.
 */
export class Rng {
  private readonly generator: RandomGenerator;
  private spareNormal: number | undefined;

  private constructor(
    /** The 32-bit seed of this stream (derived from the root seed and labels for a fork). */
    readonly seed: number,
    /** The labels from the root to this stream, joined by `/` (empty for the root). */
    readonly path: string,
  ) {
    this.generator = mersenne(seed);
  }

  /** Creates the root stream; `seed` is an integer in [0, 2^32 - 1]. */
  static create(seed: number): Rng {
    if (!Number.isInteger(seed) || seed < 0 || seed > MAX_SEED) {
      throw new InvalidInputError(`Invalid random seed ${seed}: use an integer from 0 to ${MAX_SEED}`);
    }
    return new Rng(seed, '');
  }

  /**
   * Returns an independent stream for one purpose. The same seed and label always give the
   * same stream, whatever this stream has drawn so far.
   */
  fork(label: string): Rng {
    if (label.length === 0) throw new InvalidInputError('Invalid random stream label: use a non-empty name');
    const path = this.path ? `${this.path}/${label}` : label;
    return new Rng(hashLabel(this.seed, label), path);
  }

  /**
   * Returns a float64 drawn uniformly from [0, 1) with 53 random bits (27 high bits of one
   * output and 26 of the next, as NumPy's `random_sample` combines them).
   */
  uniform(): number {
    const high = this.generator.unsafeNext() >>> 5;
    const low = this.generator.unsafeNext() >>> 6;
    return (high * TWO_POW_26 + low) * TWO_POW_MINUS_53;
  }

  /** Returns a draw from the normal distribution (Box-Muller transform). */
  normal(mean = 0, std = 1): number {
    if (this.spareNormal !== undefined) {
      const spare = this.spareNormal;
      this.spareNormal = undefined;
      return mean + std * spare;
    }

    // 1 - u lies in (0, 1], so the logarithm is finite
    const radius = Math.sqrt(-2 * Math.log(1 - this.uniform()));
    const angle = 2 * Math.PI * this.uniform();
    this.spareNormal = radius * Math.sin(angle);
    return mean + std * radius * Math.cos(angle);
  }

  /** Returns an integer drawn uniformly from [0, n), without modulo bias. */
  int(n: number): number {
    if (!Number.isSafeInteger(n) || n < 1) {
      throw new InvalidInputError(`Invalid range size ${n} for a random integer: use a positive integer`);
    }
    return unsafeUniformIntDistribution(0, n - 1, this.generator);
  }

  /** Returns true with probability `p` (in [0, 1]). */
  bernoulli(p: number): boolean {
    if (!(p >= 0 && p <= 1)) throw new InvalidInputError(`Invalid probability ${p}: use a number from 0 to 1`);
    return this.uniform() < p;
  }

  /** Shuffles `array` in place (Fisher-Yates) and returns it. */
  shuffle<T>(array: T[]): T[] {
    for (let i = array.length - 1; i > 0; i--) {
      const j = unsafeUniformIntDistribution(0, i, this.generator);
      const swap = array[i];
      array[i] = array[j];
      array[j] = swap;
    }
    return array;
  }

  /** Returns the integers 0 .. n-1 in random order. */
  permutation(n: number): number[] {
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new InvalidInputError(`Invalid permutation size ${n}: use a non-negative integer`);
    }
    return this.shuffle(Array.from({ length: n }, (_, i) => i));
  }

  /**
   * Fills `out` with float32 values drawn uniformly from [low, high) and returns it. With the
   * defaults [0, 1) every value is a multiple of 2^-24, as `torch.rand` draws them.
   */
  fillUniform(out: Float32Array, low = 0, high = 1): Float32Array {
    if (!(Number.isFinite(low) && Number.isFinite(high) && low < high)) {
      throw new InvalidInputError(`Invalid uniform range [${low}, ${high}): use finite numbers with low < high`);
    }
    const generator = this.generator;
    const width = high - low;
    for (let i = 0; i < out.length; i++) {
      out[i] = (generator.unsafeNext() & LOW_24_BITS) * TWO_POW_MINUS_24 * width + low;
    }
    return out;
  }

  /** Fills `out` with normal draws of mean `mean` and standard deviation `std`, and returns it. */
  fillNormal(out: Float32Array, mean = 0, std = 1): Float32Array {
    for (let i = 0; i < out.length; i++) out[i] = this.normal(mean, std);
    return out;
  }
}

/** Creates the root random stream for `seed` (an integer in [0, 2^32 - 1]). */
export function createRng(seed: number): Rng {
  return Rng.create(seed);
}

/**
 * Derives a 32-bit seed from a parent seed and a label: MurmurHash3's mixing over the UTF-16
 * code units, so nearby seeds and similar labels give unrelated streams.
 */
function hashLabel(parentSeed: number, label: string): number {
  let hash = parentSeed ^ 0x9e3779b9;
  for (let i = 0; i < label.length; i++) {
    let unit = Math.imul(label.charCodeAt(i), 0xcc9e2d51);
    unit = (unit << 15) | (unit >>> 17);
    hash ^= Math.imul(unit, 0x1b873593);
    hash = (hash << 13) | (hash >>> 19);
    hash = (Math.imul(hash, 5) + 0xe6546b64) | 0;
  }

  // final avalanche (fmix32), with the length folded in as MurmurHash3 does
  hash ^= label.length;
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}
