import * as tf from '@tensorflow/tfjs-core';

import { InvalidInputError } from '../errors';
import { formatShape } from '../checkpoint/state-dict';

/**
 * The lowest float32 value, `torch.finfo(torch.float32).min`. transformers fills masked attention
 * scores with it instead of `-inf`, so a row whose keys are all masked gives a uniform softmax
 * rather than NaN; use the same value to match its outputs at padded positions.
 */
export const FLOAT32_MIN = -3.4028234663852886e38;

/** Options of {@link causalMask}. */
export interface CausalMaskOptions {
  /** Local attention window (GPT-Neo `window_size`): a query attends to its last `windowSize` keys only. */
  windowSize?: number;
}

/**
 * Returns which keys each query may attend to in causal attention: `true` where key `j` is at or
 * before the query's position. With `keyLength > queryLength` the queries are the last
 * `queryLength` positions (cached keys come first). With `windowSize`, query `i` attends to keys `j` with
 * `i - windowSize < j <= i`, as GPT-Neo's local layers do.
 *
 * Use it as `tf.where(mask, scores, FLOAT32_MIN)`, as GPT-Neo does.
 *
 * @returns bool `[queryLength, keyLength]`
 * @throws InvalidInputError for negative lengths, `queryLength > keyLength`, or a window below 1.
 */
export function causalMask(queryLength: number, keyLength = queryLength, options: CausalMaskOptions = {}): tf.Tensor2D {
  if (!Number.isInteger(queryLength) || !Number.isInteger(keyLength) || queryLength < 0 || queryLength > keyLength) {
    throw new InvalidInputError(
      `causalMask: invalid lengths query ${queryLength}, key ${keyLength}: use integers with 0 <= query <= key`,
    );
  }
  const { windowSize } = options;
  if (windowSize !== undefined && !(Number.isInteger(windowSize) && windowSize >= 1)) {
    throw new InvalidInputError(`causalMask: invalid windowSize ${windowSize}: use an integer of 1 or more`);
  }

  return tf.tidy(() => {
    const queryPosition = tf.reshape(tf.range(keyLength - queryLength, keyLength, 1, 'int32'), [queryLength, 1]);
    const keyPosition = tf.reshape(tf.range(0, keyLength, 1, 'int32'), [1, keyLength]);
    const distance = tf.sub(queryPosition, keyPosition); // [query, key]: how far back each key is
    const visible = tf.greaterEqual(distance, 0);
    if (windowSize === undefined) return visible as tf.Tensor2D;
    return tf.logicalAnd(visible, tf.less(distance, windowSize)) as tf.Tensor2D;
  });
}

/**
 * Turns a Hugging Face `attention_mask` (1 for real tokens, 0 for padding) into an additive mask
 * `(1 - mask) * FLOAT32_MIN`, as transformers' `get_extended_attention_mask` does: add it to the
 * attention scores `[batch, heads, query, key]` before the softmax.
 *
 * @param attentionMask - `[batch, key]`, values 0 or 1 (int32 or float32)
 * @returns float32 `[batch, 1, 1, key]`
 * @throws InvalidInputError when `attentionMask` is not rank 2.
 */
export function paddingMask(attentionMask: tf.Tensor): tf.Tensor4D {
  if (attentionMask.rank !== 2) {
    throw new InvalidInputError(
      `paddingMask: attention_mask has shape ${formatShape(attentionMask.shape)}, expected [batch, sequence]`,
    );
  }
  const [batch, keyLength] = attentionMask.shape;
  return tf.tidy(() => {
    const padding = tf.sub(1, tf.cast(attentionMask, 'float32')); // 1 at padding
    return tf.reshape(tf.mul(padding, FLOAT32_MIN), [batch, 1, 1, keyLength]) as tf.Tensor4D;
  });
}
