/**
 * Tokenizing and batching source-target pairs for CodeT5 fine-tuning and generation, as CodeT5's
 * `convert_examples_to_features` builds them: `<s> text </s>` for both sides, cut to the length
 * limits with the end token kept, a literal `</s>` in the text replaced by `<unk>`. Rows are padded
 * to the longest of their batch; target padding is -100 so the loss skips it.
 */
import { InvalidInputError, createRng, getLogger } from '@modularevo/core-tensor';
import type { GenerationExample, Tokenizer } from '@modularevo/datasets';

import { IGNORE_INDEX } from './loss';

const log = getLogger('codet5');

/** Policy for a sequence longer than its limit. */
export type OverlengthPolicy = 'truncate' | 'error';

/** Length limits of a generation task, in tokens including `<s>` and `</s>`. */
export interface Seq2SeqLimits {
  maxSourceLength: number;
  /** Limit of the training targets, and of the generated sequences (counting the decoder start token). */
  maxTargetLength: number;
  /**
   * `truncate` cuts longer sources and targets and logs one warning per batching call, as CodeT5
   * truncates them; `error` rejects the first one, naming the example.
   */
  overlength: OverlengthPolicy;
}

/** Tokenized source-target pairs of one batch, with the texts they came from. */
export interface Seq2SeqBatch {
  /** Example ids (CodeXGLUE `idx` for code-to-text). */
  exampleIds: string[];
  sources: string[];
  /** Reference texts, untruncated, for scoring. */
  targets: string[];
  rows: number;
  /** `[rows, sourceLength]` source ids, padded with the pad id. */
  inputIds: Int32Array;
  /** `[rows, sourceLength]`, 1 for tokens and 0 for padding. */
  attentionMask: Int32Array;
  sourceLength: number;
  /** `[rows, targetLength]` target ids, padded with -100. */
  labels: Int32Array;
  targetLength: number;
}

/** Options of {@link encodeSeq2Seq}. */
export interface EncodeOptions {
  /** Task name, for messages. */
  task: string;
  limits: Seq2SeqLimits;
}

/** Options of {@link collateSeq2Seq}. */
export interface CollateOptions extends EncodeOptions {
  batchSize: number;
  /** Shuffle the examples with this seed first; keep their order when undefined. */
  shuffleSeed?: number;
  /** Pad id of the model, used when the tokenizer names none. */
  padId: number;
}

/** One tokenized example. */
export interface EncodedExample {
  example: GenerationExample;
  /** `<s> source </s>` ids within the source limit. */
  source: number[];
  /** `<s> target </s>` ids within the target limit. */
  target: number[];
}

/**
 * Tokenizes examples and groups them into batches of `batchSize` (the last may be smaller).
 *
 * @throws InvalidInputError as {@link encodeSeq2Seq} and {@link batchSeq2Seq}
 */
export function collateSeq2Seq(tokenizer: Tokenizer, examples: readonly GenerationExample[], options: CollateOptions): Seq2SeqBatch[] {
  return batchSeq2Seq(encodeSeq2Seq(tokenizer, examples, options), tokenizer.padId ?? options.padId, options.batchSize, options.shuffleSeed);
}

/**
 * Tokenizes examples within the limits, logging one warning per side for what was cut.
 *
 * @throws InvalidInputError for an empty source (naming the example), an invalid limit, or,
 *   with the `error` policy, a source or target longer than its limit
 */
export function encodeSeq2Seq(tokenizer: Tokenizer, examples: readonly GenerationExample[], options: EncodeOptions): EncodedExample[] {
  const { task, limits } = options;
  checkLimits(limits);
  for (const example of examples) checkSource(task, example);

  const sourceCuts = new TruncationCounter(task, 'source', 'maxSourceLength', limits);
  const targetCuts = new TruncationCounter(task, 'target', 'maxTargetLength', limits);
  const encoded = examples.map((example) => ({
    example,
    source: encodeLimited(tokenizer, example.source, limits.maxSourceLength, (length) => sourceCuts.record(example.id, length)),
    target: encodeLimited(tokenizer, example.target, limits.maxTargetLength, (length) => targetCuts.record(example.id, length)),
  }));
  sourceCuts.warn(examples.length);
  targetCuts.warn(examples.length);
  return encoded;
}

/**
 * Groups tokenized examples into padded batches of `batchSize`, in a seeded random order when
 * `shuffleSeed` is given.
 *
 * @throws InvalidInputError for an invalid batch size
 */
export function batchSeq2Seq(encoded: readonly EncodedExample[], padId: number, batchSize: number, shuffleSeed?: number): Seq2SeqBatch[] {
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new InvalidInputError(`batchSize must be a positive integer, not ${batchSize}`);
  const order = shuffleSeed === undefined ? encoded.map((_, i) => i) : createRng(shuffleSeed).permutation(encoded.length);
  const batches: Seq2SeqBatch[] = [];
  for (let start = 0; start < order.length; start += batchSize) {
    batches.push(padBatch(order.slice(start, start + batchSize).map((i) => encoded[i]), padId));
  }
  return batches;
}

/** Counts the tokens a batch trains on: source tokens plus target tokens that are not -100. */
export function countSeq2SeqTokens(batch: Seq2SeqBatch): number {
  let tokens = 0;
  for (const value of batch.attentionMask) tokens += value;
  for (const label of batch.labels) if (label !== IGNORE_INDEX) tokens += 1;
  return tokens;
}

/**
 * Throws an InvalidInputError naming the example when its source is empty or whitespace, since
 * the model would see only `<s> </s>`.
 */
export function checkSource(task: string, example: GenerationExample): void {
  if (typeof example.source !== 'string' || example.source.trim() === '') {
    throw new InvalidInputError(`${task} example "${example.id}" has an empty source; remove it or give it text`);
  }
}

/**
 * Checks the limits of a task.
 *
 * @throws InvalidInputError naming the invalid limit
 */
export function checkLimits(limits: Seq2SeqLimits): void {
  // `<s>`, `</s>` and at least one token of text
  for (const name of ['maxSourceLength', 'maxTargetLength'] as const) {
    const value = limits[name];
    if (!Number.isSafeInteger(value) || value < 3) {
      throw new InvalidInputError(`${name} must be an integer of at least 3 (<s>, one token, </s>), not ${value}`);
    }
  }
  if (limits.overlength !== 'truncate' && limits.overlength !== 'error') {
    throw new InvalidInputError(`overlength must be "truncate" or "error", not ${JSON.stringify(limits.overlength)}`);
  }
}

/** Counts the sequences cut to a limit and applies the overlength policy. */
class TruncationCounter {
  private count = 0;
  private first: { id: string; length: number } | undefined;

  constructor(
    private readonly task: string,
    private readonly side: 'source' | 'target',
    private readonly limitName: 'maxSourceLength' | 'maxTargetLength',
    private readonly limits: Seq2SeqLimits,
  ) {}

  record(id: string, length: number): void {
    const limit = this.limits[this.limitName];
    if (this.limits.overlength === 'error') {
      throw new InvalidInputError(
        `${this.task} example "${id}": the ${this.side} has ${length} tokens, more than ${this.limitName} ${limit}; raise ${this.limitName} or set overlength to "truncate"`,
      );
    }
    this.count += 1;
    this.first ??= { id, length };
  }

  warn(total: number): void {
    if (this.count === 0) return;
    const limit = this.limits[this.limitName];
    log.warn(
      `${this.task}: ${this.count} of ${total} ${this.side}s are longer than ${this.limitName} ${limit} and were truncated ` +
        `(first: example "${this.first!.id}" with ${this.first!.length} tokens)`,
    );
  }
}

/** Encodes `<s> text </s>`, cut to `limit` tokens with `</s>` kept, reporting the full length when cut. */
function encodeLimited(tokenizer: Tokenizer, text: string, limit: number, onCut: (length: number) => void): number[] {
  // CodeT5 keeps a literal end token in the text from ending the sequence
  const safe = text.replaceAll('</s>', '<unk>');
  const ids = tokenizer.encode(safe);
  if (ids.length <= limit) return ids;
  onCut(ids.length);
  return tokenizer.encode(safe, { maxLength: limit });
}

function padBatch(items: EncodedExample[], padId: number): Seq2SeqBatch {
  const rows = items.length;
  const sourceLength = Math.max(...items.map((item) => item.source.length));
  const targetLength = Math.max(...items.map((item) => item.target.length));
  const batch: Seq2SeqBatch = {
    exampleIds: items.map((item) => item.example.id),
    sources: items.map((item) => item.example.source),
    targets: items.map((item) => item.example.target),
    rows,
    inputIds: new Int32Array(rows * sourceLength).fill(padId),
    attentionMask: new Int32Array(rows * sourceLength),
    sourceLength,
    labels: new Int32Array(rows * targetLength).fill(IGNORE_INDEX),
    targetLength,
  };
  items.forEach((item, row) => {
    batch.inputIds.set(item.source, row * sourceLength);
    batch.attentionMask.fill(1, row * sourceLength, row * sourceLength + item.source.length);
    batch.labels.set(item.target, row * targetLength);
  });
  return batch;
}
