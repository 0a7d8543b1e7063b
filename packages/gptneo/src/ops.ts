/**
 * Tensor operations the GPT-Neo forward and backward passes need, written so that every backend
 * computes them quickly and every backend can differentiate them.
 *
 * The tfjs wasm backend (4.22) runs a matmul with `transposeA` or `transposeB` 10 to 50 times
 * slower than the same product on pre-transposed operands, and the built-in matmul gradient uses
 * exactly those transposed forms. The wasm backend also has no `UnsortedSegmentSum` kernel, so the
 * built-in gradient of `gather` fails there. The custom gradients below use plain matmuls on
 * explicitly transposed operands and a `scatterND` (which sums duplicate indices) instead.
 *
 * NOTE: core-tensor is gaining shared `linear`, `layerNorm`, `geluNew` and `crossEntropy` ops;
 * these local versions should give way to them once they exist.
 */
import * as tf from '@tensorflow/tfjs-core';

import type { LinearFn } from '@modularevo/core-tensor';

type GradientResult = {
  value: tf.Tensor;
  gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor | tf.Tensor[];
};

// tf.customGrad with the argument list typed: the tensors, then tfjs's save function. A custom
// gradient must `save` every tensor its gradFunc reads, because tfjs disposes the other tensors
// of the forward pass before the backward pass runs.
function withGradient<Args extends tf.Tensor[]>(
  f: (...args: [...Args, tf.GradSaveFunc]) => GradientResult,
): (...args: Args) => tf.Tensor {
  return tf.customGrad(f as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (...args: Args) => tf.Tensor;
}

// Swaps the last two axes, the only transpose a batched matmul needs.
function swapLastAxes(x: tf.Tensor): tf.Tensor {
  const perm = x.shape.map((_, i) => i);
  const rank = perm.length;
  [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1], perm[rank - 2]];
  return tf.transpose(x, perm);
}

const matMulNN = withGradient<[tf.Tensor, tf.Tensor]>((a, b, save) => {
  save([a, b]);
  return {
    value: tf.matMul(a, b),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [savedA, savedB] = saved;
      return [tf.matMul(dy, swapLastAxes(savedB)), tf.matMul(swapLastAxes(savedA), dy)];
    },
  };
});

const matMulNT = withGradient<[tf.Tensor, tf.Tensor]>((a, b, save) => {
  save([a, b]);
  return {
    value: tf.matMul(a, swapLastAxes(b)),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [savedA, savedB] = saved;
      // y = a b^T, so da = dy b and db = dy^T a
      return [tf.matMul(dy, savedB), tf.matMul(swapLastAxes(dy), savedA)];
    },
  };
});

/**
 * Batched matrix product `a @ b` (or `a @ b^T` when `transposeB`) over the last two axes, with
 * equal leading (batch) axes. Same result as `tf.matMul`, faster forward and backward on wasm.
 */
export function matMul(a: tf.Tensor, b: tf.Tensor, transposeB = false): tf.Tensor {
  return transposeB ? matMulNT(a, b) : matMulNN(a, b);
}

/**
 * Computes `x @ weight^T + bias` on `x` of shape `[..., in]`, with `weight` stored `[out, in]` as
 * PyTorch does, and returns `[..., out]`. This is the default {@link LinearFn}.
 */
export const denseLinear: LinearFn = (_layer, x, weight, bias) => {
  const [outFeatures, inFeatures] = weight.shape;
  const leading = x.shape.slice(0, -1);

  const x2 = tf.reshape(x, [-1, inFeatures]); // [rows, in]
  let y = matMul(x2, weight, true); // [rows, in] @ [in, out] -> [rows, out]
  if (bias) y = tf.add(y, bias);
  return tf.reshape(y, [...leading, outFeatures]); // [..., out]
};

/**
 * Looks up rows of `table` (`[rows, width]`) for the integer `ids` of any shape; returns
 * `[...ids.shape, width]`. Differentiable with respect to `table` on every backend.
 */
export function embedding(table: tf.Tensor2D, ids: tf.Tensor): tf.Tensor {
  const [rows, width] = table.shape;
  const flatIds = tf.reshape(ids, [-1]); // [n]

  const lookup = withGradient<[tf.Tensor]>((weights, save) => {
    save([flatIds]);
    return {
      value: tf.gather(weights, flatIds), // [n, width]
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        // scatterND adds the rows of repeated ids, which is the gradient of a gather.
        const indices = tf.reshape(saved[0], [-1, 1]); // [n, 1]
        return tf.scatterND(indices, dy, [rows, width]); // [rows, width]
      },
    };
  });

  return tf.reshape(lookup(table), [...ids.shape, width]);
}

/**
 * Layer normalization over the last axis, as `torch.nn.LayerNorm` computes it (biased variance,
 * `eps` inside the square root). `weight` and `bias` default to 1 and 0.
 */
export function layerNorm(x: tf.Tensor, weight: tf.Tensor | undefined, bias: tf.Tensor | undefined, eps: number): tf.Tensor {
  const axis = x.rank - 1;
  const mean = tf.mean(x, axis, true); // [..., 1]
  const centered = tf.sub(x, mean);
  const variance = tf.mean(tf.square(centered), axis, true); // [..., 1]
  let y = tf.mul(centered, tf.rsqrt(tf.add(variance, eps)));
  if (weight) y = tf.mul(y, weight);
  if (bias) y = tf.add(y, bias);
  return y;
}

/**
 * Cross-entropy of `logits` `[n, classes]` against integer `labels` `[n]`, summed over the rows
 * whose label is not `ignoreIndex`, with the gradient `softmax - onehot` written directly so no
 * `gather` gradient is needed. Returns the sum and the count of counted rows, both scalars, so
 * callers can average over one batch or over many.
 */
export function crossEntropySum(
  logits: tf.Tensor2D,
  labels: tf.Tensor1D,
  ignoreIndex = -100,
): { sum: tf.Scalar; count: tf.Scalar } {
  const [rows, classes] = logits.shape;

  // rows to count, and labels made safe to index with (ignored rows point at class 0 with weight 0)
  const counted = tf.cast(tf.notEqual(labels, ignoreIndex), 'float32'); // [n]
  const safeLabels = tf.cast(tf.mul(labels, tf.cast(counted, 'int32')), 'int32'); // [n]
  const flatIndex = tf.add(tf.mul(tf.range(0, rows, 1, 'int32'), tf.scalar(classes, 'int32')), safeLabels); // [n]

  const sumOfLosses = withGradient<[tf.Tensor]>((x, save) => {
    // log Z = max - log(softmax at the max): the fused softmax kernel is several times faster
    // than exp and logSumExp, and the probability at the max is at least 1/classes, so its
    // logarithm cannot underflow.
    const probabilities = tf.softmax(x); // [n, classes]
    const logZ = tf.sub(tf.max(x, 1), tf.log(tf.max(probabilities, 1))); // [n]
    const picked = tf.gather(tf.reshape(x, [-1]), flatIndex); // [n]
    save([probabilities, counted, safeLabels]);
    return {
      value: tf.sum(tf.mul(tf.sub(logZ, picked), counted)),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [savedProbabilities, savedCounted, savedLabels] = saved;
        const target = tf.oneHot(savedLabels as tf.Tensor1D, classes); // [n, classes]
        const scale = tf.reshape(tf.mul(savedCounted, dy), [rows, 1]); // [n, 1]
        return tf.mul(tf.sub(savedProbabilities, target), scale);
      },
    };
  });

  return { sum: sumOfLosses(logits) as tf.Scalar, count: tf.sum(counted) };
}
