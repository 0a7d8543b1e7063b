import { Tokenizer as HfJsTokenizer } from '@huggingface/tokenizers';

import { InvalidInputError } from '@modularevo/core-tensor';

import { withPythonWhitespace } from './pre-tokenizer';
import type { SpecialTokenRole } from './special-tokens';

/** Options of {@link Tokenizer.encode}. */
export interface EncodeOptions {
  /** Add the model's special tokens (`<s> ... </s>` for RoBERTa and CodeT5; none for GPT-2). Default true, as in transformers. */
  addSpecialTokens?: boolean;
  /** Truncate to at most this many ids, special tokens included (they are kept; the text is cut). */
  maxLength?: number;
}

/** Options of {@link Tokenizer.decode}. */
export interface DecodeOptions {
  /** Drop special tokens from the text. Default false. */
  skipSpecialTokens?: boolean;
  /**
   * Remove spaces before punctuation and contractions (" ." to ".", " n't" to "n't"). Defaults to
   * the folder's `clean_up_tokenization_spaces`, which transformers 4.36 defaults to true.
   */
  cleanUpTokenizationSpaces?: boolean;
}

/** Options of {@link Tokenizer.encodeBatch}. */
export interface BatchEncodeOptions extends EncodeOptions {
  /** `longest` pads to the longest sequence of the batch, `max_length` to `maxLength`. Default `longest`. */
  padding?: 'longest' | 'max_length';
  /** Side of the padding. Default `right`, as every model fixture uses. */
  paddingSide?: 'right' | 'left';
}

/** Token ids of a padded batch, row-major, with the attention mask. */
export interface EncodedBatch {
  /** `[batch, seq]` ids, padded with the pad id. */
  inputIds: Int32Array;
  /** `[batch, seq]`: 1 for real tokens, 0 for padding. */
  attentionMask: Int32Array;
  shape: [number, number];
  /** Unpadded length of each row. */
  lengths: number[];
  /** How many rows were cut to `maxLength`. */
  truncated: number;
}

/** A text tokenizer loaded from a model folder; see {@link loadTokenizer}. */
export interface Tokenizer {
  /** Number of ids, added tokens included (`len(tokenizer)` in transformers). */
  readonly vocabSize: number;
  readonly bosId: number | undefined;
  readonly eosId: number | undefined;
  /** The pad id, or the EOS id when the model has no pad token and it was loaded with `padWithEos`. */
  readonly padId: number | undefined;
  readonly unkId: number | undefined;
  readonly maskId: number | undefined;
  /** `model_max_length` from `tokenizer_config.json`, when it sets one. */
  readonly modelMaxLength: number | undefined;
  /** How many special tokens `encode` adds around one text (2 for RoBERTa, 0 for GPT-2). */
  readonly numSpecialTokensToAdd: number;

  /** Splits text into token strings (byte-level BPE symbols, `Ġ` for a leading space). */
  tokenize(text: string, options?: EncodeOptions): string[];
  /** Encodes text to ids. Throws `InvalidInputError` when `maxLength` cannot hold the special tokens. */
  encode(text: string, options?: EncodeOptions): number[];
  /** Encodes texts and pads them into one `[batch, seq]` array. Throws `InvalidInputError` when the model has no pad id. */
  encodeBatch(texts: string[], options?: BatchEncodeOptions): EncodedBatch;
  /** Decodes ids to text. Throws `InvalidInputError` for an id outside the vocabulary. */
  decode(ids: ArrayLike<number>, options?: DecodeOptions): string;
  tokenToId(token: string): number | undefined;
  idToToken(id: number): string | undefined;
}

/** Settings for {@link HfTokenizer} beyond the `tokenizer.json` structure. */
export interface HfTokenizerSettings {
  /** Special token content by role. */
  roles: Partial<Record<SpecialTokenRole, string>>;
  /** Ids from `config.json` (`bos_token_id`, ...) for roles the tokenizer files do not name. */
  fallbackIds: Partial<Record<'bos' | 'eos' | 'pad' | 'unk', number>>;
  modelMaxLength?: number;
  cleanUpTokenizationSpaces?: boolean;
  padWithEos?: boolean;
}

/** A {@link Tokenizer} over the pure-JavaScript `@huggingface/tokenizers` implementation. */
export class HfTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly bosId: number | undefined;
  readonly eosId: number | undefined;
  readonly padId: number | undefined;
  readonly unkId: number | undefined;
  readonly maskId: number | undefined;
  readonly modelMaxLength: number | undefined;
  readonly numSpecialTokensToAdd: number;

  private readonly inner: HfJsTokenizer;

  constructor(tokenizerJson: Record<string, unknown>, settings: HfTokenizerSettings) {
    const config = { clean_up_tokenization_spaces: settings.cleanUpTokenizationSpaces ?? true };
    const patched = { ...tokenizerJson, pre_tokenizer: withPythonWhitespace(tokenizerJson.pre_tokenizer) };
    this.inner = new HfJsTokenizer(patched, config);
    this.vocabSize = this.inner.model!.vocab.length;

    const idOfRole = (role: SpecialTokenRole): number | undefined => {
      const content = settings.roles[role];
      return content === undefined ? undefined : this.inner.token_to_id(content);
    };
    this.bosId = idOfRole('bos_token') ?? settings.fallbackIds.bos;
    this.eosId = idOfRole('eos_token') ?? settings.fallbackIds.eos;
    this.unkId = idOfRole('unk_token') ?? settings.fallbackIds.unk;
    this.maskId = idOfRole('mask_token');
    const padId = idOfRole('pad_token') ?? settings.fallbackIds.pad;
    this.padId = padId ?? (settings.padWithEos ? this.eosId : undefined);

    // transformers writes a huge sentinel (1e30) when a tokenizer has no limit
    const maxLength = settings.modelMaxLength;
    this.modelMaxLength = maxLength !== undefined && maxLength < 1e12 ? maxLength : undefined;
    this.numSpecialTokensToAdd = this.inner.tokenize('', { add_special_tokens: true }).length;
  }

  tokenize(text: string, options: EncodeOptions = {}): string[] {
    const addSpecialTokens = options.addSpecialTokens ?? true;
    const content = this.inner.tokenize(text, { add_special_tokens: false });
    const limit = options.maxLength === undefined ? undefined : this.contentLimit(options.maxLength, addSpecialTokens);
    const kept = limit === undefined ? content : content.slice(0, limit);
    if (!addSpecialTokens || !this.inner.post_processor) return kept;
    return this.inner.post_processor(kept, null, true).tokens;
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    return this.tokenize(text, options).map((token) => this.inner.token_to_id(token) ?? this.requireUnk(token));
  }

  encodeBatch(texts: string[], options: BatchEncodeOptions = {}): EncodedBatch {
    const padding = options.padding ?? 'longest';
    if (padding === 'max_length' && options.maxLength === undefined) {
      throw new InvalidInputError('padding "max_length" needs maxLength: pass the sequence length to pad to');
    }
    if (this.padId === undefined) {
      throw new InvalidInputError('The tokenizer has no pad token: load it with padWithEos (as GPT-Neo fine-tuning does) or add a pad_token');
    }

    // encode without the limit first, so truncation can be counted
    const rows = texts.map((text) => this.encode(text, { addSpecialTokens: options.addSpecialTokens }));
    let truncated = 0;
    const kept = rows.map((ids, index) => {
      if (options.maxLength === undefined || ids.length <= options.maxLength) return ids;
      truncated += 1;
      return this.encode(texts[index], { addSpecialTokens: options.addSpecialTokens, maxLength: options.maxLength });
    });

    const seq = padding === 'max_length' ? options.maxLength! : Math.max(0, ...kept.map((ids) => ids.length));
    const inputIds = new Int32Array(texts.length * seq).fill(this.padId);
    const attentionMask = new Int32Array(texts.length * seq);
    kept.forEach((ids, row) => {
      const start = row * seq + (options.paddingSide === 'left' ? seq - ids.length : 0);
      inputIds.set(ids, start);
      attentionMask.fill(1, start, start + ids.length);
    });
    return { inputIds, attentionMask, shape: [texts.length, seq], lengths: kept.map((ids) => ids.length), truncated };
  }

  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    const list = Array.from(ids);
    for (const id of list) {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
        throw new InvalidInputError(`Cannot decode token id ${id}: ids must be integers from 0 to ${this.vocabSize - 1}`);
      }
    }
    if (list.length === 0) return '';
    return this.inner.decode(list, {
      skip_special_tokens: options.skipSpecialTokens ?? false,
      clean_up_tokenization_spaces: options.cleanUpTokenizationSpaces,
    });
  }

  tokenToId(token: string): number | undefined {
    return this.inner.token_to_id(token);
  }

  idToToken(id: number): string | undefined {
    return this.inner.id_to_token(id);
  }

  /** Returns how many text tokens fit in `maxLength` next to the special tokens. */
  private contentLimit(maxLength: number, addSpecialTokens: boolean): number {
    const special = addSpecialTokens ? this.numSpecialTokensToAdd : 0;
    if (!Number.isInteger(maxLength) || maxLength <= special) {
      throw new InvalidInputError(`Invalid maxLength ${maxLength}: it must be an integer above the ${special} special tokens the tokenizer adds`);
    }
    return maxLength - special;
  }

  private requireUnk(token: string): number {
    if (this.unkId === undefined) throw new InvalidInputError(`Token ${JSON.stringify(token)} is not in the vocabulary and the tokenizer has no unk token`);
    return this.unkId;
  }
}
