import { InvalidInputError } from '../errors';
import { createRng, type Rng } from './rng';

const DRAWS = 100_000;

function draws(rng: Rng, count: number, draw: (rng: Rng) => number): Float64Array {
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) out[i] = draw(rng);
  return out;
}

function minAndMax(values: ArrayLike<number>): { min: number; max: number } {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) {
    min = Math.min(min, values[i]);
    max = Math.max(max, values[i]);
  }
  return { min, max };
}

function meanAndVariance(values: ArrayLike<number>): { mean: number; variance: number } {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i];
  const mean = sum / values.length;
  let squares = 0;
  for (let i = 0; i < values.length; i++) squares += (values[i] - mean) ** 2;
  return { mean, variance: squares / (values.length - 1) };
}

describe('Rng reproducibility', () => {
  it('repeats every kind of draw for one seed', () => {
    const sequence = (rng: Rng) => [
      rng.uniform(),
      rng.normal(),
      rng.int(1000),
      rng.bernoulli(0.5) ? 1 : 0,
      ...rng.permutation(5),
      ...rng.fillUniform(new Float32Array(4)),
      ...rng.fillNormal(new Float32Array(3)),
    ];

    expect(sequence(createRng(1234))).toEqual(sequence(createRng(1234)));
  });

  it('gives different streams for different seeds', () => {
    expect(createRng(1).uniform()).not.toBe(createRng(2).uniform());
  });

  it('matches the MT19937 check value of the C++ standard', () => {
    // [rand.predef]: the 10000th output of mt19937 with the default seed 5489 is 4123659995;
    // fillUniform keeps its low 24 bits.
    const values = createRng(5489).fillUniform(new Float32Array(10_000));

    expect(values[9999]).toBe((4123659995 & 0xffffff) / 2 ** 24);
  });

  it('uniform matches NumPy RandomState(42).random_sample()', () => {
    // The first value every NumPy example with seed 42 prints.
    expect(createRng(42).uniform()).toBe(0.3745401188473625);
  });

  it('rejects invalid seeds', () => {
    for (const seed of [-1, 1.5, 2 ** 32, NaN]) {
      expect(() => createRng(seed)).toThrow(InvalidInputError);
    }
  });
});

describe('Rng forks', () => {
  it('do not depend on what the parent has drawn', () => {
    const fresh = createRng(7).fork('data').fillUniform(new Float32Array(16));

    const used = createRng(7);
    used.fillUniform(new Float32Array(1000));
    used.normal();
    const later = used.fork('data').fillUniform(new Float32Array(16));

    expect(later).toEqual(fresh);
  });

  it('do not depend on sibling forks', () => {
    const alone = createRng(7).fork('dropout').uniform();

    const root = createRng(7);
    root.fork('data').fillUniform(new Float32Array(500));
    const withSibling = root.fork('dropout').uniform();

    expect(withSibling).toBe(alone);
  });

  it('differ by label, seed and nesting', () => {
    const first = (rng: Rng) => rng.fillUniform(new Float32Array(8));
    const root = createRng(7);

    expect(first(root.fork('data'))).not.toEqual(first(root.fork('dropout')));
    expect(first(root.fork('data'))).not.toEqual(first(createRng(8).fork('data')));
    expect(first(root.fork('data').fork('epoch-1'))).not.toEqual(first(root.fork('data').fork('epoch-2')));
    expect(first(root.fork('data'))).not.toEqual(first(createRng(7)));
  });

  it('record their label path', () => {
    expect(createRng(3).fork('data').fork('epoch-0').path).toBe('data/epoch-0');
  });

  it('reject an empty label', () => {
    expect(() => createRng(3).fork('')).toThrow(InvalidInputError);
  });
});

describe('Rng distributions', () => {
  const rng = createRng(2024);

  it('uniform has mean 1/2 and variance 1/12', () => {
    const values = draws(rng, DRAWS, (r) => r.uniform());
    const { mean, variance } = meanAndVariance(values);
    const { min, max } = minAndMax(values);

    expect(min).toBeGreaterThanOrEqual(0);
    expect(max).toBeLessThan(1);
    expect(Math.abs(mean - 0.5)).toBeLessThan(5 * Math.sqrt(1 / 12 / DRAWS));
    expect(Math.abs(variance - 1 / 12)).toBeLessThan(0.002);
  });

  it('fillUniform stays in [low, high) with the right mean', () => {
    const values = rng.fillUniform(new Float32Array(DRAWS), -2, 3);
    const { mean, variance } = meanAndVariance(values);
    const { min, max } = minAndMax(values);

    expect(min).toBeGreaterThanOrEqual(-2);
    expect(max).toBeLessThan(3);
    expect(Math.abs(mean - 0.5)).toBeLessThan(5 * Math.sqrt(25 / 12 / DRAWS));
    expect(Math.abs(variance - 25 / 12)).toBeLessThan(0.05);
  });

  it('normal has the requested mean and variance', () => {
    const values = draws(rng, DRAWS, (r) => r.normal(3, 2));
    const { mean, variance } = meanAndVariance(values);

    expect(Math.abs(mean - 3)).toBeLessThan(5 * (2 / Math.sqrt(DRAWS)));
    expect(Math.abs(variance - 4)).toBeLessThan(0.1);
  });

  it('fillNormal has mean 0 and variance 1', () => {
    const { mean, variance } = meanAndVariance(rng.fillNormal(new Float32Array(DRAWS)));

    expect(Math.abs(mean)).toBeLessThan(5 / Math.sqrt(DRAWS));
    expect(Math.abs(variance - 1)).toBeLessThan(0.03);
  });

  it('int covers [0, n) evenly', () => {
    const counts = new Array(10).fill(0);
    for (let i = 0; i < DRAWS; i++) counts[rng.int(10)]++;

    // chi-square with 9 degrees of freedom: 27.9 is its 0.999 quantile
    const expected = DRAWS / 10;
    const chiSquare = counts.reduce((sum, count) => sum + (count - expected) ** 2 / expected, 0);
    expect(chiSquare).toBeLessThan(27.9);
  });

  it('bernoulli succeeds at rate p', () => {
    let successes = 0;
    for (let i = 0; i < DRAWS; i++) if (rng.bernoulli(0.3)) successes++;

    expect(Math.abs(successes / DRAWS - 0.3)).toBeLessThan(5 * Math.sqrt((0.3 * 0.7) / DRAWS));
    expect(rng.bernoulli(0)).toBe(false);
    expect(rng.bernoulli(1)).toBe(true);
  });

  it('permutation contains every index once', () => {
    const permutation = rng.permutation(1000);

    expect([...permutation].sort((a, b) => a - b)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(permutation).not.toEqual(Array.from({ length: 1000 }, (_, i) => i));
  });

  it('shuffle puts each element first equally often', () => {
    const firstCounts = new Array(4).fill(0);
    const rounds = 40_000;
    for (let i = 0; i < rounds; i++) firstCounts[rng.shuffle([0, 1, 2, 3])[0]]++;

    for (const count of firstCounts) {
      expect(Math.abs(count / rounds - 0.25)).toBeLessThan(5 * Math.sqrt((0.25 * 0.75) / rounds));
    }
  });

  it('rejects invalid arguments', () => {
    expect(() => rng.int(0)).toThrow(InvalidInputError);
    expect(() => rng.int(2.5)).toThrow(InvalidInputError);
    expect(() => rng.bernoulli(1.5)).toThrow(InvalidInputError);
    expect(() => rng.bernoulli(NaN)).toThrow(InvalidInputError);
    expect(() => rng.fillUniform(new Float32Array(2), 1, 1)).toThrow(InvalidInputError);
    expect(() => rng.permutation(-1)).toThrow(InvalidInputError);
  });
});
