/** Checks on the tensors a caller passes to the model, so bad ids fail with a clear message. */
import type * as tf from '@tensorflow/tfjs-core';

import { InvalidInputError } from '@modularevo/core-tensor';

import { IGNORE_INDEX } from './loss';

/**
 * Checks that `ids` is an int32 `[batch, seq]` tensor with at least one column whose entries
 * are token ids in `[0, vocabSize)` (or -100 where `allowIgnored`). Reads the ids back to the
 * host, which costs little next to a forward pass.
 *
 * @throws InvalidInputError naming the input, the position and the value
 */
export function checkTokenIds(name: string, ids: tf.Tensor, vocabSize: number, allowIgnored = false): void {
  if (ids.rank !== 2) throw new InvalidInputError(`${name} must have shape [batch, seq], not [${ids.shape.join(', ')}]`);
  if (ids.dtype !== 'int32') throw new InvalidInputError(`${name} must be an int32 tensor, not ${ids.dtype}`);
  const [batch, seq] = ids.shape;
  if (batch < 1 || seq < 1) throw new InvalidInputError(`${name} is empty (shape [${batch}, ${seq}]); give at least one token per row`);

  const values = ids.dataSync();
  for (let i = 0; i < values.length; i++) {
    const id = values[i];
    if ((id >= 0 && id < vocabSize) || (allowIgnored && id === IGNORE_INDEX)) continue;
    const allowed = allowIgnored ? `a token id in [0, ${vocabSize}) or ${IGNORE_INDEX}` : `a token id in [0, ${vocabSize})`;
    throw new InvalidInputError(`${name}[${Math.floor(i / seq)}][${i % seq}] is ${id}, but must be ${allowed}`);
  }
}

/**
 * Checks that `mask` has the shape of the ids it belongs to and holds only 0 and 1.
 *
 * @throws InvalidInputError naming the shapes or the first invalid entry
 */
export function checkAttentionMask(mask: tf.Tensor, ids: tf.Tensor): void {
  const matches = mask.rank === 2 && mask.shape[0] === ids.shape[0] && mask.shape[1] === ids.shape[1];
  if (!matches) {
    throw new InvalidInputError(`attentionMask has shape [${mask.shape.join(', ')}] but inputIds has [${ids.shape.join(', ')}]`);
  }
  const values = mask.dataSync();
  const bad = values.findIndex((value) => value !== 0 && value !== 1);
  if (bad >= 0) throw new InvalidInputError(`attentionMask must hold only 0 and 1, but entry ${bad} is ${values[bad]}`);
}
