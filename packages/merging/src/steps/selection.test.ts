import { seededRandom } from '../../test/helpers';
import { MagnitudeHistogram, RangeRefinement, kthMagnitude, magnitudeBits, magnitudeOfBits } from './selection';

/** Reference: sort every magnitude and read the k-th (1-based). */
function sortedKth(arrays: Float32Array[], k: number) {
  const magnitudes = arrays.flatMap((values) => Array.from(values, Math.abs)).sort((a, b) => a - b);
  const kth = magnitudes[k - 1];
  return {
    value: kth,
    countLess: magnitudes.filter((value) => value < kth).length,
    countEqual: magnitudes.filter((value) => value === kth).length,
  };
}

function randomArrays(seed: number, sizes: number[], zeroFraction: number): Float32Array[] {
  const random = seededRandom(seed);
  return sizes.map((size) => {
    const values = new Float32Array(size);
    for (let i = 0; i < size; i++) {
      // quantised so equal magnitudes are frequent; both signs; some exact and negative zeros
      const value = random() < zeroFraction ? 0 : Math.round((random() * 2 - 1) * 64) / 1024;
      values[i] = value === 0 && random() < 0.5 ? -0 : value;
    }
    return values;
  });
}

describe('kthMagnitude', () => {
  const cases: [string, number, number[], number][] = [
    ['dense', 1, [100, 37, 5], 0],
    ['many zeros', 2, [64, 64, 64], 0.75],
    ['all zeros', 3, [10], 1],
    ['single entry', 4, [1], 0],
  ];

  it.each(cases)('%s matches a full sort at every rank', (_name, seed, sizes, zeroFraction) => {
    const arrays = randomArrays(seed, sizes, zeroFraction);
    const total = sizes.reduce((a, b) => a + b, 0);
    for (let k = 1; k <= total; k++) {
      const expected = sortedKth(arrays, k);
      const actual = kthMagnitude(arrays, k);
      expect(magnitudeOfBits(actual.bits)).toBe(expected.value);
      expect(actual.countLess).toBe(expected.countLess);
      expect(actual.countEqual).toBe(expected.countEqual);
    }
  });

  it('separates magnitudes in one histogram bucket', () => {
    // 1 and its next float32 share the high 20 bits
    const next = magnitudeOfBits(magnitudeBits(1) + 1);
    const values = new Float32Array([next, 1, -next, 1, 0.5]);

    expect(magnitudeOfBits(kthMagnitude([values], 2).bits)).toBe(1);
    expect(magnitudeOfBits(kthMagnitude([values], 4).bits)).toBe(next);
  });

  it('two-pass histogram equals in-memory selection', () => {
    const arrays = randomArrays(5, [300, 200, 700], 0.5);
    const histogram = new MagnitudeHistogram();
    arrays.forEach((values) => histogram.add(values));
    const k = 600;
    const bucket = histogram.bucketAt(k);
    const refinement = new RangeRefinement(bucket, bucket);
    arrays.forEach((values) => refinement.add(values));

    expect(refinement.result(k)).toEqual(kthMagnitude(arrays, k));
    expect(histogram.total).toBe(1200);
  });

  it('a bucket range finds every rank inside it and no other', () => {
    const arrays = randomArrays(6, [500, 500], 0.3);
    const histogram = new MagnitudeHistogram();
    arrays.forEach((values) => histogram.add(values));
    const refinement = new RangeRefinement(histogram.bucketAt(300), histogram.bucketAt(700));
    arrays.forEach((values) => refinement.add(values));

    for (let k = 1; k <= 1000; k += 7) {
      const result = refinement.result(k);
      const inside = k > refinement.below && k <= refinement.below + refinement.inRange;
      expect(result === undefined).toBe(!inside);
      if (result) expect(result).toEqual(kthMagnitude(arrays, k));
    }
    expect(refinement.result(300)).toBeDefined();
    expect(refinement.result(700)).toBeDefined();
  });
});
