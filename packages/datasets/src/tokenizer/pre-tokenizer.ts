/**
 * The GPT-2 pre-tokenization pattern, as `GPT2Tokenizer` (transformers) and the `ByteLevel`
 * pre-tokenizer of Hugging Face `tokenizers` use it.
 */
export const GPT2_SPLIT_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/**
 * Returns `preTokenizer` with every regex-splitting `ByteLevel` step replaced by a `Split` on the
 * same pattern followed by a `ByteLevel` that does not split.
 *
 * Why: `@huggingface/tokenizers` 0.2.0 runs the ByteLevel pattern with JavaScript's `\s`, which
 * includes U+FEFF and lacks U+0085, so text with those characters splits differently from the
 * Python `regex` module (slow tokenizers) and Oniguruma (Rust tokenizers). Its `Split` translates
 * `\s` to `\p{White_Space}`, which both of those use, so the rewritten steps agree with them.
 *
 * NOTE: a ByteLevel step with `add_prefix_space` is left as it is, because after a Split it would
 * prefix every piece with a space instead of only the text. Such tokenizers keep the difference.
 */
export function withPythonWhitespace(preTokenizer: unknown): unknown {
  if (preTokenizer === null || typeof preTokenizer !== 'object') return preTokenizer;
  const step = preTokenizer as Record<string, any>;

  if (step.type === 'Sequence' && Array.isArray(step.pretokenizers)) {
    return { ...step, pretokenizers: step.pretokenizers.map(withPythonWhitespace) };
  }
  if (step.type !== 'ByteLevel' || step.use_regex === false || step.add_prefix_space) return step;

  return {
    type: 'Sequence',
    pretokenizers: [
      { type: 'Split', pattern: { Regex: GPT2_SPLIT_PATTERN }, behavior: 'Isolated', invert: false },
      { ...step, use_regex: false },
    ],
  };
}
