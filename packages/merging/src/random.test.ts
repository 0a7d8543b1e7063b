import { streamKey, uniform32 } from './random';

describe('counter-based random draws', () => {
  it('are reproducible and differ between streams', () => {
    const key = streamKey(7, 0, 'transformer.wte.weight');
    expect(uniform32(key, 123)).toBe(uniform32(streamKey(7, 0, 'transformer.wte.weight'), 123));
    expect(streamKey(7, 1, 'transformer.wte.weight')).not.toBe(key);
    expect(streamKey(8, 0, 'transformer.wte.weight')).not.toBe(key);
    expect(streamKey(7, 0, 'transformer.wpe.weight')).not.toBe(key);
  });

  it('are uniform over 16 buckets (chi-square)', () => {
    const draws = 160_000;
    const counts = new Array<number>(16).fill(0);
    const key = streamKey(1, 0, 'x');
    for (let i = 0; i < draws; i++) counts[uniform32(key, i) >>> 28]++;
    const expected = draws / 16;
    const chiSquare = counts.reduce((sum, count) => sum + (count - expected) ** 2 / expected, 0);
    // 15 degrees of freedom: 37.7 is the 0.001 upper quantile
    expect(chiSquare).toBeLessThan(37.7);
  });

  it('neighbouring streams are uncorrelated', () => {
    const a = streamKey(0, 0, 'w');
    const b = streamKey(0, 1, 'w');
    let both = 0;
    const draws = 100_000;
    for (let i = 0; i < draws; i++) if (uniform32(a, i) < 2 ** 31 && uniform32(b, i) < 2 ** 31) both++;
    // independent halves coincide a quarter of the time; 5 standard deviations is about 0.007
    expect(Math.abs(both / draws - 0.25)).toBeLessThan(0.007);
  });
});
