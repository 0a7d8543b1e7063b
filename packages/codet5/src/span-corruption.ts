/**
 * T5 span corruption: choose noise spans in a token block, replace each span of the input by a
 * sentinel token, and make the target the list of dropped spans, each after its sentinel. The
 * noise mask follows `random_spans_noise_mask` of Google's `t5.data.preprocessors` (the version
 * without `random_roll`): exact numbers of noise tokens and spans, span lengths drawn as random
 * compositions, a block that starts with kept tokens and ends with a noise span.
 */
import { InvalidInputError, type Rng } from '@modularevo/core-tensor';

/** Settings of span corruption, with T5's names. */
export interface SpanCorruptionSettings {
  /** Fraction of tokens that become noise (T5 default 0.15). */
  noiseDensity: number;
  /** Mean number of tokens per noise span (T5 default 3). */
  meanNoiseSpanLength: number;
}

/** The T5 and CodeT5 pre-training settings. */
export const T5_SPAN_CORRUPTION: SpanCorruptionSettings = { noiseDensity: 0.15, meanNoiseSpanLength: 3 };

/** Numbers of noise tokens and noise spans that span corruption puts in a block. */
export interface NoiseCounts {
  noiseTokens: number;
  noiseSpans: number;
}

/**
 * Computes how many tokens and spans of a block of `length` tokens are noise, as T5 does:
 * `round(length * noiseDensity)` tokens, at least 1 and at most `length - 1`, in
 * `round(tokens / meanNoiseSpanLength)` spans, at least 1 and at most the number of kept tokens.
 *
 * @throws InvalidInputError for a length below 2 or settings out of range
 */
export function noiseCounts(length: number, settings: SpanCorruptionSettings): NoiseCounts {
  checkSettings(settings);
  if (!Number.isSafeInteger(length) || length < 2) {
    throw new InvalidInputError(`Span corruption needs blocks of at least 2 tokens, not ${length}`);
  }
  const noiseTokens = Math.min(Math.max(roundHalfEven(length * settings.noiseDensity), 1), length - 1);
  const spans = Math.max(roundHalfEven(noiseTokens / settings.meanNoiseSpanLength), 1);

  // every noise span needs a kept span before it; T5 fails to segment above density 0.5
  return { noiseTokens, noiseSpans: Math.min(spans, length - noiseTokens) };
}

/**
 * Draws which tokens of a block of `length` tokens are noise. The block alternates kept and
 * noise spans, starting with kept tokens, with {@link noiseCounts} noise tokens in that many
 * spans. The lengths of the kept spans and of the noise spans are each a uniformly random
 * composition (every split into non-empty parts is equally likely).
 *
 * @returns one boolean per token, true for noise
 * @throws InvalidInputError as {@link noiseCounts}
 */
export function randomSpansNoiseMask(length: number, settings: SpanCorruptionSettings, rng: Rng): boolean[] {
  const { noiseTokens, noiseSpans } = noiseCounts(length, settings);
  const noiseLengths = randomSegmentation(noiseTokens, noiseSpans, rng);
  const keptLengths = randomSegmentation(length - noiseTokens, noiseSpans, rng);

  const mask: boolean[] = [];
  for (let span = 0; span < noiseSpans; span++) {
    for (let i = 0; i < keptLengths[span]; i++) mask.push(false);
    for (let i = 0; i < noiseLengths[span]; i++) mask.push(true);
  }
  return mask;
}

/** A corrupted block: the encoder input and the decoder target, both ending with EOS. */
export interface CorruptedBlock {
  /** Kept tokens with one sentinel in place of each noise span. */
  inputIds: number[];
  /** Each noise span after the sentinel that replaced it in the input. */
  targetIds: number[];
}

/**
 * Applies a noise mask to a block. In the input each noise span becomes one sentinel, the i-th
 * span `sentinelIds[i]`. The target lists every noise span after its sentinel, as T5 builds
 * inputs with `noise_span_to_unique_sentinel` and targets with
 * `nonnoise_span_to_unique_sentinel`. Both end with `eosId`.
 *
 * @throws InvalidInputError when the lengths differ or the block has more spans than sentinels
 */
export function corruptSpans(tokens: ArrayLike<number>, noise: readonly boolean[], sentinelIds: readonly number[], eosId: number): CorruptedBlock {
  if (tokens.length !== noise.length) {
    throw new InvalidInputError(`Noise mask has ${noise.length} entries but the block has ${tokens.length} tokens`);
  }
  const inputIds: number[] = [];
  const targetIds: number[] = [];
  let span = -1;

  for (let i = 0; i < tokens.length; i++) {
    if (!noise[i]) {
      inputIds.push(tokens[i]);
      continue;
    }

    // the first token of a noise span opens it in both sequences
    if (i === 0 || !noise[i - 1]) {
      span += 1;
      if (span >= sentinelIds.length) {
        throw new InvalidInputError(`The block has more noise spans than the ${sentinelIds.length} sentinel tokens; use shorter blocks`);
      }
      inputIds.push(sentinelIds[span]);
      targetIds.push(sentinelIds[span]);
    }
    targetIds.push(tokens[i]);
  }

  inputIds.push(eosId);
  targetIds.push(eosId);
  return { inputIds, targetIds };
}

/**
 * Splits `items` into `segments` non-empty parts of random lengths, each composition equally
 * likely: it marks `segments - 1` of the `items - 1` gaps as cuts, as T5's `_random_segmentation`
 * shuffles a boolean vector.
 */
function randomSegmentation(items: number, segments: number, rng: Rng): number[] {
  const cuts = rng.permutation(items - 1).slice(0, segments - 1).sort((a, b) => a - b);
  const lengths: number[] = [];
  let start = 0;
  for (const cut of cuts) {
    lengths.push(cut + 1 - start);
    start = cut + 1;
  }
  lengths.push(items - start);
  return lengths;
}

/** Rounds halves to even, as NumPy's `round` and TensorFlow's `round` do. */
function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const fraction = x - floor;
  if (fraction !== 0.5) return Math.round(x);
  return floor % 2 === 0 ? floor : floor + 1;
}

function checkSettings(settings: SpanCorruptionSettings): void {
  if (!(settings.noiseDensity > 0 && settings.noiseDensity < 1)) {
    throw new InvalidInputError(`noiseDensity must be in (0, 1), not ${settings.noiseDensity}`);
  }
  if (!(settings.meanNoiseSpanLength >= 1 && Number.isFinite(settings.meanNoiseSpanLength))) {
    throw new InvalidInputError(`meanNoiseSpanLength must be a finite number of at least 1, not ${settings.meanNoiseSpanLength}`);
  }
}
