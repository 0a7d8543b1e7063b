/**
 * Layer ops of the GPT-Neo block with hand-written gradients that keep only their inputs for
 * backpropagation. Their forward passes are the core-tensor ops, so the numbers are the same.
 *
 * Built from elementary tfjs ops, the gradient tape keeps every intermediate result: about 8
 * tensors of `[tokens, intermediate]` for `geluNew`, about 10 of `[tokens, hidden]` for each layer
 * norm, and a transposed weight copy plus the output for each linear layer. The wasm backend also
 * copies every saved tensor. Measured on wasm at hidden size 768 and 8 x 128 tokens, a block kept
 * about 375 MiB for backpropagation with the composed ops and keeps about 120 MiB with these.
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
const linearWithBias = withGradient<[tf.Tensor, tf.Tensor, tf.Tensor]>((x, weight, bias, save) => {
  save([x, weight]);
  return {
    value: linear(x, weight as tf.Tensor2D, bias as tf.Tensor1D), // [..., out]
    gradFunc: (dy, [savedX, savedWeight]) => {
      const [dx, dWeight, dy2] = linearGradients(dy, savedX, savedWeight);
      return [dx, dWeight, tf.sum(dy2, 0)];
    },
  };
});

const linearWithoutBias = withGradient<[tf.Tensor, tf.Tensor]>((x, weight, save) => {
  save([x, weight]);
  return {
    value: linear(x, weight as tf.Tensor2D), // [..., out]
    gradFunc: (dy, [savedX, savedWeight]) => linearGradients(dy, savedX, savedWeight).slice(0, 2),
  };
});

// Gradients of y = x W^T: dx = dy W and dW = dy^T x, with the leading axes folded into rows.
function linearGradients(dy: tf.Tensor, x: tf.Tensor, weight: tf.Tensor): tf.Tensor[] {
  const [outFeatures, inFeatures] = weight.shape;
  const dy2 = tf.reshape(dy, [-1, outFeatures]); // [rows, out]
  const x2 = tf.reshape(x, [-1, inFeatures]); // [rows, in]
  const dx = tf.reshape(tf.matMul(dy2, weight), x.shape); // [rows, out] @ [out, in] -> [..., in]
  const dWeight = tf.matMul(dy2, x2, true, false); // [out, rows] @ [rows, in] -> [out, in]
  return [dx, dWeight, dy2];
}

/**
 * Computes `x @ weight^T + bias` on `x` of shape `[..., in]` with `weight` stored `[out, in]` as
 * PyTorch does, and returns `[..., out]`. This is the {@link LinearFn} used when a forward pass
 * gets no `linear` option.
 */
export const denseLinear: LinearFn = (_layer, x, weight, bias) =>
  bias ? linearWithBias(x, weight, bias) : linearWithoutBias(x, weight);

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
