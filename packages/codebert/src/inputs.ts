/**
 * Token ids and attention masks as the forward pass takes them, checked once on the host so
 * that a bad id or an over-long sequence fails with a message instead of reading past an
 * embedding matrix.
 */
import * as tf from '@tensorflow/tfjs-core';

import { InvalidInputError } from '@modularevo/core-tensor';

import { maxSequenceLength, type RobertaConfig } from './config';

/** A `[batch, seq]` integer matrix, as a tensor or as nested arrays. */
export type IdMatrix = tf.Tensor2D | number[][];

/** Inputs of a RoBERTa forward pass, named as the `transformers` forward arguments. */
export interface RobertaInputs {
  /** Token ids `[batch, seq]`, right-padded with `pad_token_id`. */
  inputIds: IdMatrix;
  /** 1 for real tokens, 0 for padding, `[batch, seq]`; all ones when absent, as in `transformers`. */
  attentionMask?: IdMatrix;
}

/** A checked `[batch, seq]` matrix in host memory, row-major. */
export interface IntMatrix {
  batch: number;
  seq: number;
  values: Int32Array;
}

/** Inputs after checking: host copies of ids, mask and position ids. */
export interface CheckedInputs {
  batch: number;
  seq: number;
  inputIds: Int32Array;
  attentionMask: Int32Array;
  positionIds: Int32Array;
}

/**
 * Converts and validates forward-pass inputs and derives the position ids.
 *
 * @throws InvalidInputError when shapes disagree, an id is outside [0, vocab_size), the mask
 *   contains values other than 0 and 1, or a row has more real tokens than the model has positions
 *   (`max_position_embeddings - pad_token_id - 1`).
 */
export function checkInputs(inputs: RobertaInputs, config: RobertaConfig): CheckedInputs {
  const ids = toIntMatrix(inputs.inputIds, 'input_ids');
  const { batch, seq } = ids;
  if (batch === 0 || seq === 0) throw new InvalidInputError(`input_ids is empty (shape [${batch}, ${seq}])`);
  for (const id of ids.values) {
    if (id < 0 || id >= config.vocab_size) {
      throw new InvalidInputError(`Invalid input_ids value ${id}: outside [0, ${config.vocab_size}), the vocab_size of the model`);
    }
  }

  let attentionMask: Int32Array;
  if (inputs.attentionMask === undefined) {
    attentionMask = new Int32Array(batch * seq).fill(1);
  } else {
    const mask = toIntMatrix(inputs.attentionMask, 'attention_mask');
    if (mask.batch !== batch || mask.seq !== seq) {
      throw new InvalidInputError(`attention_mask has shape [${mask.batch}, ${mask.seq}] but input_ids has [${batch}, ${seq}]`);
    }
    for (const value of mask.values) {
      if (value !== 0 && value !== 1) throw new InvalidInputError(`Invalid attention_mask value ${value}: use 1 for tokens and 0 for padding`);
    }
    attentionMask = mask.values;
  }

  return { batch, seq, inputIds: ids.values, attentionMask, positionIds: positionIdsOf(ids, config) };
}

/**
 * Computes position ids as `create_position_ids_from_input_ids` of `transformers` does: the
 * tokens that are not `pad_token_id` count up from `pad_token_id + 1`, and padding gets
 * `pad_token_id`. Padding therefore never shifts the positions of real tokens.
 *
 * @throws InvalidInputError when a row has more than `max_position_embeddings - pad_token_id - 1`
 *   real tokens, naming the row and the limit.
 */
export function positionIdsOf(ids: IntMatrix, config: RobertaConfig): Int32Array {
  const pad = config.pad_token_id;
  const positions = new Int32Array(ids.values.length);
  for (let b = 0; b < ids.batch; b++) {
    let count = 0;
    for (let t = 0; t < ids.seq; t++) {
      const i = b * ids.seq + t;
      if (ids.values[i] === pad) {
        positions[i] = pad;
        continue;
      }
      count += 1;
      positions[i] = pad + count;
    }
    if (count > maxSequenceLength(config)) {
      throw new InvalidInputError(
        `Row ${b} of input_ids has ${count} tokens but the model takes at most ${maxSequenceLength(config)} ` +
          `(max_position_embeddings ${config.max_position_embeddings} minus pad_token_id ${pad} minus 1); truncate the input`,
      );
    }
  }
  return positions;
}

/** Reads a `[batch, seq]` integer matrix into host memory. */
export function toIntMatrix(matrix: IdMatrix, name: string): IntMatrix {
  if (matrix instanceof tf.Tensor) {
    if (matrix.rank !== 2) throw new InvalidInputError(`${name} must be [batch, seq], got shape [${matrix.shape.join(', ')}]`);
    const values = Int32Array.from(matrix.dataSync(), (value) => checkInteger(value, name));
    return { batch: matrix.shape[0], seq: matrix.shape[1], values };
  }
  if (!Array.isArray(matrix) || !matrix.every(Array.isArray)) throw new InvalidInputError(`${name} must be a [batch, seq] array of arrays`);

  const batch = matrix.length;
  const seq = batch > 0 ? matrix[0].length : 0;
  const values = new Int32Array(batch * seq);
  matrix.forEach((row, b) => {
    if (row.length !== seq) throw new InvalidInputError(`${name} rows differ in length (row 0 has ${seq}, row ${b} has ${row.length}); pad them`);
    row.forEach((value, t) => (values[b * seq + t] = checkInteger(value, name)));
  });
  return { batch, seq, values };
}

function checkInteger(value: number, name: string): number {
  if (!Number.isInteger(value)) throw new InvalidInputError(`Invalid ${name} value ${value}: ids must be integers`);
  return value;
}
