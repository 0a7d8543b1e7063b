import { InvalidInputError } from '@modularevo/core-tensor';

/** Padded token ids of a batch, row-major, as model inputs. */
export interface PaddedBatch {
  /** `[batch, seq]` ids. */
  inputIds: Int32Array;
  /** `[batch, seq]`: 1 for real tokens, 0 for padding. */
  attentionMask: Int32Array;
  shape: [number, number];
}

/** Options of {@link padSequences}. */
export interface PadOptions {
  /** Pad to this length instead of the longest row (`padding="max_length"`); rows must not be longer. */
  length?: number;
  /** Side the padding goes on. Default `right`. */
  paddingSide?: 'right' | 'left';
}

/**
 * Pads token-id rows into one `[batch, seq]` array with its attention mask. Truncate first (see
 * {@link encodeTexts}); a row longer than `options.length` is an error.
 *
 * @throws InvalidInputError for an empty batch or a row longer than `options.length`
 */
export function padSequences(rows: ArrayLike<number>[], padId: number, options: PadOptions = {}): PaddedBatch {
  if (rows.length === 0) throw new InvalidInputError('Cannot pad an empty batch');
  let longest = 0;
  for (const row of rows) longest = Math.max(longest, row.length);
  const seq = options.length ?? longest;
  if (longest > seq) throw new InvalidInputError(`A row has ${longest} tokens, more than the padded length ${seq}: truncate before padding`);

  const inputIds = new Int32Array(rows.length * seq).fill(padId);
  const attentionMask = new Int32Array(rows.length * seq);
  rows.forEach((row, index) => {
    // [batch, seq]: row `index` starts at index * seq
    const start = index * seq + (options.paddingSide === 'left' ? seq - row.length : 0);
    inputIds.set(row, start);
    attentionMask.fill(1, start, start + row.length);
  });
  return { inputIds, attentionMask, shape: [rows.length, seq] };
}

/** A padded batch of classification inputs with their labels. */
export interface LabelledBatch extends PaddedBatch {
  /** `[batch]` class ids. */
  labels: Int32Array;
}

/** Pads encoded examples and gathers their labels; see {@link padSequences}. */
export function collateLabelled(examples: { ids: ArrayLike<number>; label: number }[], padId: number, options: PadOptions = {}): LabelledBatch {
  const padded = padSequences(examples.map((example) => example.ids), padId, options);
  return { ...padded, labels: Int32Array.from(examples, (example) => example.label) };
}
