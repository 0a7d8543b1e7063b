import * as tf from '@tensorflow/tfjs-core';

import { geluNew, initBackend, layerNorm, linear } from '@modularevo/core-tensor';

import { worstMismatch } from '../test/helpers';
import { denseLinear, embedding, lowMemoryGeluNew, lowMemoryLayerNorm, maskedSoftmax } from './ops';

const CLOSE = { abs: 1e-5, rel: 1e-4 };

beforeAll(async () => {
  await initBackend();
});

// Deterministic values in (-scale, scale) so failures reproduce.
function filled(shape: number[], seed: number, scale = 1): tf.Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: size }, (_, i) => Math.sin(seed * 1000 + i * 12.9898) * scale), shape);
}

function expectClose(actual: tf.Tensor, expected: tf.Tensor): void {
  expect(actual.shape).toEqual(expected.shape);
  expect(worstMismatch(actual.dataSync(), expected.dataSync(), CLOSE)).toBeUndefined();
}

// Compares value and gradients of `ours` and `reference` for a random upstream gradient.
function expectSameGradients(ours: (...xs: tf.Tensor[]) => tf.Tensor, reference: (...xs: tf.Tensor[]) => tf.Tensor, inputs: tf.Tensor[]): void {
  const upstream = filled(reference(...inputs).shape, 99);
  const loss = (f: (...xs: tf.Tensor[]) => tf.Tensor) => (...xs: tf.Tensor[]) => tf.sum(tf.mul(f(...xs), upstream));
  expectClose(ours(...inputs), reference(...inputs));
  const ourGradients = tf.grads(loss(ours))(inputs);
  const referenceGradients = tf.grads(loss(reference))(inputs);
  ourGradients.forEach((gradient, i) => expectClose(gradient, referenceGradients[i]));
}

describe('low-memory ops', () => {
  const layer = { name: 'fc', weight: 'fc.weight', bias: 'fc.bias', inFeatures: 6, outFeatures: 5 };

  it('denseLinear with bias matches linear', () => {
    tf.tidy(() => {
      expectSameGradients(
        (x, w, b) => denseLinear(layer, x, w as tf.Tensor2D, b as tf.Tensor1D),
        (x, w, b) => linear(x, w as tf.Tensor2D, b as tf.Tensor1D),
        [filled([2, 3, 6], 1), filled([5, 6], 2), filled([5], 3)],
      );
    });
  });

  it('denseLinear without bias matches linear', () => {
    tf.tidy(() => {
      expectSameGradients(
        (x, w) => denseLinear(layer, x, w as tf.Tensor2D, undefined),
        (x, w) => linear(x, w as tf.Tensor2D),
        [filled([4, 6], 4), filled([5, 6], 5)],
      );
    });
  });

  it('denseLinear with a variable weight matches linear', () => {
    const weight = tf.variable(filled([5, 6], 11));
    const bias = tf.variable(filled([5], 12));
    tf.tidy(() => {
      expectSameGradients(
        (x, w, b) => denseLinear(layer, x, w as tf.Tensor2D, b as tf.Tensor1D),
        (x, w, b) => linear(x, w as tf.Tensor2D, b as tf.Tensor1D),
        [filled([2, 3, 6], 13), weight, bias],
      );
    });
    tf.dispose([weight, bias]);
  });

  it('embedding sums gradients of repeated ids', () => {
    const table = tf.variable(filled([6, 3], 14));
    tf.tidy(() => {
      const ids = tf.tensor2d([[0, 2, 2], [5, 2, 0]], [2, 3], 'int32');
      expectSameGradients((t) => embedding(t, ids), (t) => tf.gather(t, ids), [table]);
      expectSameGradients((t) => embedding(t, ids), (t) => tf.gather(t, ids), [tf.add(table, 0)]);
    });
    table.dispose();
  });

  it('lowMemoryLayerNorm matches layerNorm', () => {
    tf.tidy(() => {
      expectSameGradients(
        (x, g, b) => lowMemoryLayerNorm(x, g as tf.Tensor1D, b as tf.Tensor1D, 1e-5),
        (x, g, b) => layerNorm(x, g as tf.Tensor1D, b as tf.Tensor1D, 1e-5),
        [filled([2, 3, 8], 6, 3), tf.add(1, filled([8], 7, 0.5)), filled([8], 8)],
      );
    });
  });

  it('lowMemoryGeluNew matches geluNew', () => {
    tf.tidy(() => {
      expectSameGradients(
        (x) => lowMemoryGeluNew(x),
        (x) => geluNew(x),
        [filled([4, 16], 9, 4)],
      );
    });
  });

  it('maskedSoftmax matches softmax of the sum', () => {
    tf.tidy(() => {
      const bias = tf.tensor4d([0, -1e30, 0, 0, 0, -1e30, 0, 0], [2, 1, 1, 4]);
      expectSameGradients(
        (x) => maskedSoftmax(x, bias),
        (x) => tf.softmax(tf.add(x, bias)),
        [filled([2, 3, 2, 4], 10, 3)],
      );
    });
  });
});
