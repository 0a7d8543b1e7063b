/**
 * The additive attention bias of GPT-Neo, built once per forward pass and shared by every block
 * of the same attention type.
 *
 * transformers 4.36 masks in two steps, both with `finfo(float32).min` (called MIN here):
 * `torch.where(causal_or_local, score, MIN)` inside the attention, then the model-level 4-D
 * mask (MIN where the key is in the future or is padding, 0 elsewhere) is added. Adding
 * `bias = (allowed ? 0 : MIN) + (future or padding ? MIN : 0)` to the score gives the same float32
 * values in one broadcast add: `score + MIN` rounds to MIN for every score below about 1e31, and
 * `MIN + MIN` overflows to -Infinity exactly as in PyTorch. Matching these values matters at
 * padded query positions, where every visible key can be masked and the softmax then spreads
 * evenly over the keys that hold MIN rather than -Infinity.
 */
import * as tf from '@tensorflow/tfjs-core';

import { FLOAT32_MIN } from '@modularevo/core-tensor';

import type { AttentionType } from './config';

/**
 * Builds the bias `[batch, 1, seq, seq]` for one attention type. A global layer lets query i see
 * keys j <= i; a local layer only keys with i - windowSize < j <= i.
 *
 * @param attentionMask - `[batch][seq]` flattened row-major, 1 for real tokens and 0 for padding
 */
export function attentionBias(
  kind: AttentionType,
  attentionMask: Int32Array,
  batch: number,
  seq: number,
  windowSize: number,
): tf.Tensor4D {
  const bias = new Float32Array(batch * seq * seq);
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < seq; i++) {
      const row = (b * seq + i) * seq;
      for (let j = 0; j < seq; j++) {
        const allowed = j <= i && (kind === 'global' || j > i - windowSize);
        const hidden = j > i || attentionMask[b * seq + j] === 0;
        // Float32Array storage turns MIN + MIN (about -6.8e38) into -Infinity, as float32 addition does.
        bias[row + j] = (allowed ? 0 : FLOAT32_MIN) + (hidden ? FLOAT32_MIN : 0);
      }
    }
  }
  return tf.tensor4d(bias, [batch, 1, seq, seq]);
}
