/**
 * Ops of the GPT-Neo forward pass with hand-written gradients that keep little for
 * backpropagation: mostly their inputs, and weights that are variables only by reference. Their
 * forward passes are tfjs or core-tensor ops, so the numbers are the same.
 *
 * Built from elementary tfjs ops, the gradient tape keeps every intermediate result: about 8
 * tensors of `[tokens, intermediate]` for `geluNew`, about 10 of `[tokens, hidden]` for each layer
 * norm, and a transposed weight copy plus the output for each linear layer. The wasm backend also
 * copies every saved tensor, weights included. Measured on wasm at hidden size 768 and 8 x 128
 * tokens, a block kept about 375 MiB for backpropagation with the composed ops and keeps about
 * 120 MiB with these.
 *
 * NOTE: the same gradients would serve every architecture from core-tensor's `ops/`.
 */
import * as tf from '@tensorflow/tfjs-core';

import { geluNew, layerNorm, linear, type LinearFn } from '@modularevo/core-tensor';

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

// x @ W^T (+ b) on x of any rank. The reshapes happen inside, so the tape keeps only x and W.
// A weight that is a tf.Variable is read back by reference instead of saved, because the wasm
// backend saves a tensor by copying it and a variable outlives the backward pass anyway.
function linearOp(weight: tf.Tensor, hasBias: boolean): (...inputs: tf.Tensor[]) => tf.Tensor {
  const keepByReference = weight instanceof tf.Variable;
  const op = (...args: (tf.Tensor | tf.GradSaveFunc)[]): GradientResult => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const [x, w, bias] = args.slice(0, -1) as tf.Tensor[];
    save(keepByReference ? [x] : [x, w]);
    return {
      value: linear(x, w as tf.Tensor2D, bias as tf.Tensor1D | undefined), // [..., out]
      gradFunc: (dy, saved) => {
        const [savedX, savedWeight] = keepByReference ? [saved[0], weight] : saved;
        const [outFeatures, inFeatures] = savedWeight.shape;
        const dy2 = tf.reshape(dy, [-1, outFeatures]); // [rows, out]
        const x2 = tf.reshape(savedX, [-1, inFeatures]); // [rows, in]
        const dx = tf.reshape(tf.matMul(dy2, savedWeight), savedX.shape); // [rows, out] @ [out, in] -> [..., in]
        const dWeight = tf.matMul(dy2, x2, true, false); // [out, rows] @ [rows, in] -> [out, in]
        return hasBias ? [dx, dWeight, tf.sum(dy2, 0)] : [dx, dWeight];
      },
    };
  };
  return tf.customGrad(op as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (...inputs: tf.Tensor[]) => tf.Tensor;
}

/**
 * Computes `x @ weight^T + bias` on `x` of shape `[..., in]` with `weight` stored `[out, in]` as
 * PyTorch does, and returns `[..., out]`. This is the {@link LinearFn} used when a forward pass
 * gets no `linear` option.
 */
export const denseLinear: LinearFn = (_layer, x, weight, bias) =>
  bias ? linearOp(weight, true)(x, weight, bias) : linearOp(weight, false)(x, weight);

/**
 * Looks up rows of `table` (`[rows, width]`) for integer `ids` of any shape, as `tf.gather` does,
 * and returns `[...ids.shape, width]`. A table that is a tf.Variable is not saved for the
 * gradient (see `linearOp`); the gradient sums the rows of repeated ids with `unsortedSegmentSum`.
 */
export function embedding(table: tf.Tensor, ids: tf.Tensor): tf.Tensor {
  if (!(table instanceof tf.Variable)) return tf.gather(table, ids);
  const rows = table.shape[0];
  const lookup = withGradient<[tf.Tensor]>((weights, save) => {
    save([ids]);
    return {
      value: tf.gather(weights, ids), // [...ids.shape, width]
      gradFunc: (dy, [savedIds]) => {
        const flatIds = tf.reshape(savedIds, [-1]) as tf.Tensor1D; // [n]
        const rowsOfDy = tf.reshape(dy, [flatIds.size, -1]); // [n, width]
        return tf.unsortedSegmentSum(rowsOfDy, flatIds, rows); // [rows, width]
      },
    };
  });
  return lookup(table);
}

/**
 * `softmax(scores + bias)` over the last axis, whose gradient keeps only the probabilities.
 * `bias` is a constant (the attention mask) and gets no gradient.
 */
export function maskedSoftmax(scores: tf.Tensor, bias: tf.Tensor): tf.Tensor {
  const softmax = withGradient<[tf.Tensor]>((x, save) => {
    const probabilities = tf.softmax(tf.add(x, bias));
    save([probabilities]);
    return {
      value: probabilities,
      gradFunc: (dy, [saved]) => tf.mul(saved, tf.sub(dy, tf.sum(tf.mul(dy, saved), -1, true))),
    };
  });
  return softmax(scores);
}

/**
 * `layerNorm` of core-tensor (`torch.nn.LayerNorm` over the last axis) whose gradient recomputes
 * the normalisation from the saved input instead of keeping its intermediate tensors.
 */
export function lowMemoryLayerNorm(x: tf.Tensor, weight: tf.Tensor1D, bias: tf.Tensor1D, eps: number): tf.Tensor {
  const normalize = withGradient<[tf.Tensor, tf.Tensor, tf.Tensor]>((input, gamma, beta, save) => {
    save([input, gamma]);
    return {
      value: layerNorm(input, gamma as tf.Tensor1D, beta as tf.Tensor1D, eps),
      gradFunc: (dy, [savedInput, savedGamma]) => {
        const axis = savedInput.rank - 1;
        const leading = [...Array(axis).keys()];

        // recompute x_hat = (x - mean) / sqrt(var + eps)
        const centered = tf.sub(savedInput, tf.mean(savedInput, axis, true)); // [..., hidden]
        const inverseStd = tf.rsqrt(tf.add(tf.mean(tf.square(centered), axis, true), eps)); // [..., 1]
        const normalized = tf.mul(centered, inverseStd); // [..., hidden]

        // dx = (g - mean(g) - x_hat * mean(g * x_hat)) / std, with g = dy * gamma
        const g = tf.mul(dy, savedGamma);
        const projection = tf.mul(normalized, tf.mean(tf.mul(g, normalized), axis, true));
        const dx = tf.mul(tf.sub(tf.sub(g, tf.mean(g, axis, true)), projection), inverseStd);
        return [dx, tf.sum(tf.mul(dy, normalized), leading), tf.sum(dy, leading)];
      },
    };
  });
  return normalize(x, weight, bias);
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/**
 * `geluNew` of core-tensor (`0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`, equal to
 * `x * sigmoid(2u)` with u the tanh argument) whose gradient is computed from the saved input.
 */
export const lowMemoryGeluNew = withGradient<[tf.Tensor]>((x, save) => {
  save([x]);
  return {
    value: geluNew(x),
    gradFunc: (dy, [savedX]) => {
      // d/dx x s(2u) = s + x s (1 - s) 2u', with s = sigmoid(2u) and u' = sqrt(2/pi) (1 + 3 * 0.044715 x^2)
      const square = tf.square(savedX);
      const twoU = tf.mul(tf.mul(savedX, tf.add(1, tf.mul(square, 0.044715))), 2 * SQRT_2_OVER_PI);
      const s = tf.sigmoid(twoU);
      const twoUPrime = tf.mul(tf.add(1, tf.mul(square, 3 * 0.044715)), 2 * SQRT_2_OVER_PI);
      const derivative = tf.add(s, tf.mul(tf.mul(savedX, tf.mul(s, tf.sub(1, s))), twoUPrime));
      return tf.mul(dy, derivative);
    },
  };
});
