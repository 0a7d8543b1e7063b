import { InvalidInputError, createRng } from '@modularevo/core-tensor';

import { T5_SPAN_CORRUPTION, corruptSpans, noiseCounts, randomSpansNoiseMask } from './span-corruption';

/** Lengths of the runs of `true` in a mask. */
function noiseSpanLengths(mask: boolean[]): number[] {
  const lengths: number[] = [];
  mask.forEach((noise, i) => {
    if (!noise) return;
    if (i === 0 || !mask[i - 1]) lengths.push(0);
    lengths[lengths.length - 1] += 1;
  });
  return lengths;
}

describe('noiseCounts', () => {
  it.each([
    // length, noise tokens, spans (T5: round(0.15 L), round(noise / 3), rounding half to even)
    [2, 1, 1],
    [10, 2, 1],
    [20, 3, 1],
    [100, 15, 5],
    [114, 17, 6],
    [512, 77, 26],
  ])('length %i gives %i noise tokens in %i spans', (length, tokens, spans) => {
    expect(noiseCounts(length, T5_SPAN_CORRUPTION)).toEqual({ noiseTokens: tokens, noiseSpans: spans });
  });

  it('rejects blocks shorter than 2', () => {
    expect(() => noiseCounts(1, T5_SPAN_CORRUPTION)).toThrow(InvalidInputError);
    expect(() => noiseCounts(1, T5_SPAN_CORRUPTION)).toThrow('at least 2 tokens');
  });

  it('rejects densities outside (0, 1)', () => {
    expect(() => noiseCounts(100, { noiseDensity: 1, meanNoiseSpanLength: 3 })).toThrow('noiseDensity');
    expect(() => noiseCounts(100, { noiseDensity: 0.15, meanNoiseSpanLength: 0.5 })).toThrow('meanNoiseSpanLength');
  });

  it('keeps a kept token before every span at high density', () => {
    const { noiseTokens, noiseSpans } = noiseCounts(10, { noiseDensity: 0.9, meanNoiseSpanLength: 1 });
    expect(noiseTokens).toBe(9);
    expect(noiseSpans).toBe(1);
  });
});

describe('randomSpansNoiseMask', () => {
  it('has exact counts, kept start and noise end', () => {
    const rng = createRng(1);
    for (const length of [2, 7, 33, 100, 257, 512]) {
      const mask = randomSpansNoiseMask(length, T5_SPAN_CORRUPTION, rng.fork(`length-${length}`));
      const { noiseTokens, noiseSpans } = noiseCounts(length, T5_SPAN_CORRUPTION);
      expect(mask).toHaveLength(length);
      expect(mask.filter(Boolean)).toHaveLength(noiseTokens);
      expect(noiseSpanLengths(mask)).toHaveLength(noiseSpans);
      expect(mask[0]).toBe(false);
      expect(mask[length - 1]).toBe(true);
    }
  });

  it('matches density and mean span length over many draws', () => {
    const rng = createRng(7);
    let noise = 0;
    let tokens = 0;
    const spans: number[] = [];
    for (let draw = 0; draw < 2000; draw++) {
      const length = 64 + rng.int(449); // 64 .. 512
      const mask = randomSpansNoiseMask(length, T5_SPAN_CORRUPTION, rng.fork(`draw-${draw}`));
      noise += mask.filter(Boolean).length;
      tokens += length;
      spans.push(...noiseSpanLengths(mask));
    }
    const meanSpan = spans.reduce((a, b) => a + b, 0) / spans.length;

    // rounding to whole tokens and spans moves each block by at most half a unit
    expect(Math.abs(noise / tokens - 0.15)).toBeLessThan(0.002);
    expect(Math.abs(meanSpan - 3)).toBeLessThan(0.05);
  });

  it('draws span lengths as uniform compositions', () => {
    // 15 noise tokens in 5 spans: P(a span has length 1) = C(13, 3) / C(14, 4) = 286 / 1001
    const rng = createRng(11);
    const lengths: number[] = [];
    for (let draw = 0; draw < 4000; draw++) lengths.push(...noiseSpanLengths(randomSpansNoiseMask(100, T5_SPAN_CORRUPTION, rng.fork(`d${draw}`))));
    const p = 286 / 1001;
    const observed = lengths.filter((length) => length === 1).length / lengths.length;
    const std = Math.sqrt((p * (1 - p)) / lengths.length);
    expect(Math.abs(observed - p)).toBeLessThan(5 * std);
  });

  it('is reproducible under a seed', () => {
    const first = randomSpansNoiseMask(300, T5_SPAN_CORRUPTION, createRng(5));
    const again = randomSpansNoiseMask(300, T5_SPAN_CORRUPTION, createRng(5));
    const other = randomSpansNoiseMask(300, T5_SPAN_CORRUPTION, createRng(6));
    expect(again).toEqual(first);
    expect(other).not.toEqual(first);
  });
});

describe('corruptSpans', () => {
  const sentinels = [99, 98, 97];
  const EOS = 2;

  it('replaces spans by sentinels and lists them in the target', () => {
    const tokens = [10, 11, 12, 13, 14, 15, 16, 17, 18, 19];
    const mask = [false, false, true, true, false, false, true, false, true, true];
    expect(corruptSpans(tokens, mask, sentinels, EOS)).toEqual({
      inputIds: [10, 11, 99, 14, 15, 98, 17, 97, 2],
      targetIds: [99, 12, 13, 98, 16, 97, 18, 19, 2],
    });
  });

  it('gives well-formed pairs that rebuild the block', () => {
    const rng = createRng(3);
    const many = Array.from({ length: 100 }, (_, i) => 1000 - i);
    for (let draw = 0; draw < 50; draw++) {
      const tokens = Array.from({ length: 120 }, () => 10 + rng.int(400)); // ids below the sentinels
      const mask = randomSpansNoiseMask(tokens.length, T5_SPAN_CORRUPTION, rng.fork(`d${draw}`));
      const { inputIds, targetIds } = corruptSpans(tokens, mask, many, EOS);
      const spans = noiseSpanLengths(mask).length;

      // sentinels appear in order, once in each sequence, and both end with EOS
      expect(inputIds.filter((id) => id > 500)).toEqual(many.slice(0, spans));
      expect(targetIds.filter((id) => id > 500)).toEqual(many.slice(0, spans));
      expect(inputIds[inputIds.length - 1]).toBe(EOS);
      expect(targetIds[targetIds.length - 1]).toBe(EOS);

      // filling each sentinel of the input with its target span gives the block back
      const spansById = new Map<number, number[]>();
      let current: number[] = [];
      for (const id of targetIds.slice(0, -1)) {
        if (id > 500) spansById.set(id, (current = []));
        else current.push(id);
      }
      const rebuilt = inputIds.slice(0, -1).flatMap((id) => (id > 500 ? spansById.get(id)! : [id]));
      expect(rebuilt).toEqual(tokens);
    }
  });

  it('rejects more spans than sentinels', () => {
    expect(() => corruptSpans([5, 6, 7, 8], [false, true, false, true], [99], EOS)).toThrow('more noise spans than the 1 sentinel');
  });

  it('rejects a mask of another length', () => {
    expect(() => corruptSpans([5, 6, 7], [false, true], sentinels, EOS)).toThrow('Noise mask has 2 entries');
  });
});
