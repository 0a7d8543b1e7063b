/**
 * T5 attention arithmetic: relative position buckets and the bias they select, additive masks,
 * and unscaled multi-head attention.
 */
import * as tf from '@tensorflow/tfjs-core';

import { FLOAT32_MIN, causalMask } from '@modularevo/core-tensor';

const f32 = Math.fround;

/**
 * Maps a relative position (key position minus query position) to its bucket, as
 * `T5Attention._relative_position_bucket` does. Half of the buckets (per direction, when
 * bidirectional) are exact distances. The rest cover distances up to `maxDistance` on a log
 * scale, and farther distances share the last bucket. Causal buckets count only keys before
 * the query, so later keys fall in bucket 0 (they are masked anyway).
 *
 * The logarithm is rounded to float32 at each step as PyTorch computes it, so a distance on a
 * bucket boundary lands where it does in `transformers`.
 */
export function relativePositionBucket(
  relativePosition: number,
  bidirectional: boolean,
  numBuckets: number,
  maxDistance: number,
): number {
  let bucket = 0;
  let buckets = numBuckets;
  let distance: number;
  if (bidirectional) {
    buckets = Math.floor(buckets / 2);
    if (relativePosition > 0) bucket += buckets;
    distance = Math.abs(relativePosition);
  } else {
    distance = -Math.min(relativePosition, 0);
  }

  const maxExact = Math.floor(buckets / 2);
  if (distance < maxExact) return bucket + distance;
  const logRatio = f32(f32(Math.log(f32(distance / maxExact))) / f32(Math.log(maxDistance / maxExact)));
  const large = maxExact + Math.trunc(f32(logRatio * (buckets - maxExact)));
  return bucket + Math.min(large, buckets - 1);
}

/**
 * Returns the bucket of every (query, key) pair, row-major `[queryLength, keyLength]`, for
 * queries at positions `queryOffset ...` (the tokens already decoded, when decoding step by step).
 */
export function relativePositionBuckets(
  queryLength: number,
  keyLength: number,
  queryOffset: number,
  bidirectional: boolean,
  numBuckets: number,
  maxDistance: number,
): Int32Array {
  const buckets = new Int32Array(queryLength * keyLength);
  for (let i = 0; i < queryLength; i++) {
    for (let j = 0; j < keyLength; j++) {
      buckets[i * keyLength + j] = relativePositionBucket(j - (queryOffset + i), bidirectional, numBuckets, maxDistance);
    }
  }
  return buckets;
}

/**
 * Looks up the learned bias of each (query, key) pair from `relative_attention_bias.weight`
 * `[numBuckets, heads]` as a one-hot matrix product. Each output is one weight times 1 plus
 * zeros, so it equals a `gather` exactly, and its gradient is a plain matmul on every backend.
 *
 * @returns the bias, shape `[1, heads, queryLength, keyLength]`
 */
export function positionBias(weight: tf.Tensor, buckets: Int32Array, queryLength: number, keyLength: number): tf.Tensor4D {
  const [numBuckets, heads] = weight.shape;
  // NOTE: tfjs-backend-wasm 4.22 fills a float32 oneHot with integer bit patterns, so cast an int32 one.
  const oneHot = tf.cast(tf.oneHot(tf.tensor1d(buckets, 'int32'), numBuckets), 'float32'); // [q * k, buckets]
  const values = tf.matMul(oneHot, weight); // [q * k, buckets] x [buckets, heads] -> [q * k, heads]
  const grid = tf.reshape(values, [queryLength, keyLength, heads]); // [q, k, heads]
  return tf.expandDims(tf.transpose(grid, [2, 0, 1]), 0) as tf.Tensor4D; // [1, heads, q, k]
}

/**
 * Returns the additive bias that hides keys after each query, `FLOAT32_MIN` where a key comes
 * later, as `transformers` builds it. Queries are the last `queryLength` of `keyLength` positions.
 *
 * @returns shape `[1, 1, queryLength, keyLength]`
 */
export function causalMaskBias(queryLength: number, keyLength: number): tf.Tensor4D {
  return tf.tidy(() => {
    const hidden = tf.sub(1, tf.cast(causalMask(queryLength, keyLength), 'float32')); // [q, k], 1 where hidden
    return tf.reshape(tf.mul(hidden, FLOAT32_MIN), [1, 1, queryLength, keyLength]);
  });
}

/** Splits `[batch, seq, heads * headSize]` into `[batch, heads, seq, headSize]`. */
export function splitHeads(x: tf.Tensor, heads: number, headSize: number): tf.Tensor4D {
  const [batch, seq] = x.shape;
  const grouped = tf.reshape(x, [batch, seq, heads, headSize]); // [batch, seq, heads, headSize]
  return tf.transpose(grouped, [0, 2, 1, 3]) as tf.Tensor4D; // [batch, heads, seq, headSize]
}

/** Joins `[batch, heads, seq, headSize]` back into `[batch, seq, heads * headSize]`. */
export function mergeHeads(x: tf.Tensor4D): tf.Tensor3D {
  const [batch, heads, seq, headSize] = x.shape;
  const grouped = tf.transpose(x, [0, 2, 1, 3]); // [batch, seq, heads, headSize]
  return tf.reshape(grouped, [batch, seq, heads * headSize]); // [batch, seq, heads * headSize]
}

/**
 * Computes `softmax(q k^T + bias) v` per head. T5 does not scale the scores by
 * `1 / sqrt(headSize)`, because its initialisation already folds that factor into `q`.
 *
 * @param query - `[batch, heads, queries, headSize]`
 * @param key - `[batch, heads, keys, headSize]`
 * @param value - `[batch, heads, keys, headSize]`
 * @param bias - position bias plus masks, broadcastable to `[batch, heads, queries, keys]`
 * @param dropout - applied to the attention weights
 * @returns `[batch, heads, queries, headSize]`
 */
export function attend(
  query: tf.Tensor4D,
  key: tf.Tensor4D,
  value: tf.Tensor4D,
  bias: tf.Tensor,
  dropout: (x: tf.Tensor) => tf.Tensor,
): tf.Tensor4D {
  const scores = tf.add(tf.matMul(query, key, false, true), bias); // [b, h, q, d] x [b, h, k, d]^T -> [b, h, q, k]
  const weights = dropout(tf.softmax(scores, -1)); // [b, h, q, k]
  return tf.matMul(weights, value) as tf.Tensor4D; // [b, h, q, k] x [b, h, k, d] -> [b, h, q, d]
}
