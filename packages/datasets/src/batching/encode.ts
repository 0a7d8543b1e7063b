import { getLogger, InvalidInputError } from '@modularevo/core-tensor';

import type { Tokenizer } from '../tokenizer';

const log = getLogger('datasets');

/** Options of {@link encodeTexts}. */
export interface EncodeTextsOptions {
  /** Maximum ids per sequence, special tokens included; longer texts are cut. */
  maxLength: number;
  /** Add the model's special tokens. Default true. */
  addSpecialTokens?: boolean;
  /** Name for the truncation warning, for example `mathqa/train`. */
  datasetName: string;
}

/** Token ids of a dataset with how many texts were cut. */
export interface EncodedTexts {
  ids: number[][];
  /** Number of texts longer than `maxLength`. */
  truncated: number;
  /** Length of the longest text before truncation. */
  longest: number;
}

/**
 * Encodes the texts of one dataset split, truncating each to `maxLength` ids (special tokens
 * kept), and logs one warning for the whole dataset when any text was cut, with the count,
 * instead of one line per record.
 *
 * @throws InvalidInputError when `maxLength` cannot hold the special tokens
 */
export function encodeTexts(texts: readonly string[], tokenizer: Tokenizer, options: EncodeTextsOptions): EncodedTexts {
  if (!Number.isInteger(options.maxLength) || options.maxLength < 1) {
    throw new InvalidInputError(`Invalid maxLength ${options.maxLength} for ${options.datasetName}: use a positive number of tokens`);
  }

  let truncated = 0;
  let longest = 0;
  const ids = texts.map((text) => {
    const full = tokenizer.encode(text, { addSpecialTokens: options.addSpecialTokens });
    longest = Math.max(longest, full.length);
    if (full.length <= options.maxLength) return full;
    truncated += 1;
    return tokenizer.encode(text, { addSpecialTokens: options.addSpecialTokens, maxLength: options.maxLength });
  });

  if (truncated > 0) {
    const percent = ((100 * truncated) / texts.length).toFixed(1);
    log.warn(`${options.datasetName}: ${truncated} of ${texts.length} texts (${percent}%) exceed ${options.maxLength} tokens and were truncated (longest ${longest})`);
  }
  return { ids, truncated, longest };
}
