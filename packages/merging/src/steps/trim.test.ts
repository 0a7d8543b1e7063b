import { seededRandom } from '../../test/helpers';
import { kthMagnitude } from './selection';
import { DROP_ALL, KEEP_ALL, TrimCursor, trimCount, trimRule } from './trim';

function deltasWithZeros(seed: number, length: number, zeroFraction: number): Float32Array {
  const random = seededRandom(seed);
  const values = new Float32Array(length);
  for (let i = 0; i < length; i++) values[i] = random() < zeroFraction ? 0 : Math.round((random() * 2 - 1) * 16) / 64;
  return values;
}

function keptEntries(values: Float32Array, k: number, mode: 'exact-k' | 'inclusive'): Float32Array {
  const rule = trimRule(k, values.length, mode, (rank) => kthMagnitude([values], rank));
  const out = new Float32Array(values.length);
  new TrimCursor(rule).trimScaled(values, 1, out);
  return out;
}

const nonzero = (values: Float32Array) => values.filter((value) => value !== 0).length;

describe('TIES trim rules', () => {
  it('exact-k keeps exactly total - k entries despite ties', () => {
    const values = deltasWithZeros(1, 400, 0.2);
    for (const rate of [0.1, 0.25, 0.5, 0.75, 0.9]) {
      const k = trimCount(values.length, rate);
      const rule = trimRule(k, values.length, 'exact-k', (rank) => kthMagnitude([values], rank));
      const cursor = new TrimCursor(rule);
      cursor.trimScaled(values, 1, new Float32Array(values.length));

      expect(cursor.kept).toBe(values.length - k);
    }
  });

  it('exact-k keeps the first entries at the threshold', () => {
    const values = new Float32Array([0.5, 0.25, -0.25, 0.25, 1]);
    // k = 2 drops the smallest two: both from the three entries of magnitude 0.25, keeping the first
    const out = keptEntries(values, 2, 'exact-k');

    // dropped negative entries become -0, which adds nothing to the base either
    expect(Array.from(out, (value) => value + 0)).toEqual([0.5, 0.25, 0, 0, 1]);
  });

  it('75% zeros: inclusive trims nothing', () => {
    const values = deltasWithZeros(2, 1000, 0.75);
    const zeros = values.length - nonzero(values);
    const k = trimCount(values.length, 0.6);
    expect(zeros).toBeGreaterThan(k);

    const exactRule = trimRule(k, values.length, 'exact-k', (rank) => kthMagnitude([values], rank));
    const inclusiveRule = trimRule(k, values.length, 'inclusive', (rank) => kthMagnitude([values], rank));
    const exact = new TrimCursor(exactRule);
    const inclusive = new TrimCursor(inclusiveRule);
    exact.trimScaled(values, 1, new Float32Array(values.length));
    inclusive.trimScaled(values, 1, new Float32Array(values.length));

    // The k-th smallest magnitude is 0: the original keeps every entry, exact-k drops k zeros.
    expect(inclusiveRule.thresholdBits).toBe(0);
    expect(inclusive.kept).toBe(values.length);
    expect(exact.kept).toBe(values.length - k);
  });

  it('75% zeros: exact-k keeps total - k above', () => {
    const values = deltasWithZeros(3, 1000, 0.75);
    const k = trimCount(values.length, 0.9);

    const exact = keptEntries(values, k, 'exact-k');
    const inclusive = keptEntries(values, k, 'inclusive');

    // quantised magnitudes tie at the threshold, and the inclusive rule keeps every tie
    expect(nonzero(exact)).toBe(values.length - k);
    expect(nonzero(inclusive)).toBeGreaterThan(values.length - k);
  });

  it('rate 0 keeps all and rate 1 drops all', () => {
    const select = () => {
      throw new Error('no selection needed');
    };
    expect(trimRule(0, 10, 'exact-k', select)).toBe(KEEP_ALL);
    expect(trimRule(10, 10, 'inclusive', select)).toBe(DROP_ALL);
    expect(trimCount(416, 0.2)).toBe(83);
  });
});
