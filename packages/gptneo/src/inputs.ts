/**
 * Token ids, attention masks and position ids as the forward pass takes them: tfjs tensors or
 * nested arrays, checked once on the host so a bad id fails with a message instead of reading
 * past the embedding matrix.
 */
import * as tf from '@tensorflow/tfjs-core';

import { InvalidInputError } from '@modularevo/core-tensor';

/** A `[batch, seq]` integer matrix, as a tensor or as nested arrays. */
export type IdMatrix = tf.Tensor2D | number[][];

/** Inputs of a GPT-Neo forward pass, named as the `transformers` forward arguments. */
export interface GPTNeoInputs {
  /** Token ids `[batch, seq]`. */
  inputIds: IdMatrix;
  /** 1 for real tokens, 0 for padding, `[batch, seq]`; all ones when absent. */
  attentionMask?: IdMatrix;
  /** Position of each token, `[batch, seq]`; 0..seq-1 in every row when absent. */
  positionIds?: IdMatrix;
}

/** Inputs after checking: device tensors for the graph and host copies for building masks. */
export interface CheckedInputs {
  batch: number;
  seq: number;
  inputIds: tf.Tensor2D;
  positionIds: tf.Tensor2D;
  /** `[batch * seq]` row-major, 0 or 1. */
  attentionMask: Int32Array;
}

/**
 * Converts and validates forward-pass inputs. Tensors that this function creates are owned by
 * the caller's `tf.tidy` scope.
 *
 * @throws InvalidInputError when shapes disagree, an id is outside [0, vocabSize), a position is
 *   outside [0, maxPositions), or the attention mask contains values other than 0 and 1.
 */
export function checkInputs(inputs: GPTNeoInputs, vocabSize: number, maxPositions: number): CheckedInputs {
  const ids = toIntMatrix(inputs.inputIds, 'input_ids');
  const { batch, seq } = ids;
  if (batch === 0 || seq === 0) throw new InvalidInputError(`input_ids is empty (shape [${batch}, ${seq}])`);
  checkRange(ids.values, 0, vocabSize, 'input_ids', 'the vocab_size of the model');

  // attention mask
  let attentionMask: Int32Array;
  if (inputs.attentionMask === undefined) {
    attentionMask = new Int32Array(batch * seq).fill(1);
  } else {
    const mask = toIntMatrix(inputs.attentionMask, 'attention_mask');
    checkSameShape(mask, batch, seq, 'attention_mask');
    for (const value of mask.values) {
      if (value !== 0 && value !== 1) throw new InvalidInputError(`Invalid attention_mask value ${value}: use 1 for tokens and 0 for padding`);
    }
    attentionMask = mask.values;
  }

  // position ids
  let positions: Int32Array;
  if (inputs.positionIds === undefined) {
    if (seq > maxPositions) {
      throw new InvalidInputError(
        `Sequence length ${seq} exceeds max_position_embeddings ${maxPositions}; truncate the input`,
      );
    }
    positions = new Int32Array(batch * seq);
    for (let b = 0; b < batch; b++) for (let t = 0; t < seq; t++) positions[b * seq + t] = t;
  } else {
    const given = toIntMatrix(inputs.positionIds, 'position_ids');
    checkSameShape(given, batch, seq, 'position_ids');
    checkRange(given.values, 0, maxPositions, 'position_ids', 'max_position_embeddings');
    positions = given.values;
  }

  return {
    batch,
    seq,
    inputIds: tf.tensor2d(ids.values, [batch, seq], 'int32'),
    positionIds: tf.tensor2d(positions, [batch, seq], 'int32'),
    attentionMask,
  };
}

interface IntMatrix {
  batch: number;
  seq: number;
  values: Int32Array;
}

/** Reads a `[batch, seq]` integer matrix into host memory. */
export function toIntMatrix(matrix: IdMatrix, name: string): IntMatrix {
  if (matrix instanceof tf.Tensor) {
    if (matrix.rank !== 2) throw new InvalidInputError(`${name} must be [batch, seq], got shape [${matrix.shape.join(', ')}]`);
    const values = Int32Array.from(matrix.dataSync(), (value) => checkInteger(value, name));
    return { batch: matrix.shape[0], seq: matrix.shape[1], values };
  }
  if (!Array.isArray(matrix) || !matrix.every(Array.isArray)) {
    throw new InvalidInputError(`${name} must be a [batch, seq] array of arrays`);
  }
  const batch = matrix.length;
  const seq = batch > 0 ? matrix[0].length : 0;
  const values = new Int32Array(batch * seq);
  matrix.forEach((row, b) => {
    if (row.length !== seq) {
      throw new InvalidInputError(`${name} rows differ in length (row 0 has ${seq}, row ${b} has ${row.length}); pad them`);
    }
    row.forEach((value, t) => (values[b * seq + t] = checkInteger(value, name)));
  });
  return { batch, seq, values };
}

function checkInteger(value: number, name: string): number {
  if (!Number.isInteger(value)) throw new InvalidInputError(`Invalid ${name} value ${value}: ids must be integers`);
  return value;
}

function checkSameShape(matrix: IntMatrix, batch: number, seq: number, name: string): void {
  if (matrix.batch !== batch || matrix.seq !== seq) {
    throw new InvalidInputError(`${name} has shape [${matrix.batch}, ${matrix.seq}] but input_ids has [${batch}, ${seq}]`);
  }
}

function checkRange(values: Int32Array, low: number, high: number, name: string, limit: string): void {
  for (let i = 0; i < values.length; i++) {
    if (values[i] < low || values[i] >= high) {
      throw new InvalidInputError(`Invalid ${name} value ${values[i]} at flat index ${i}: outside [${low}, ${high}) set by ${limit}`);
    }
  }
}
