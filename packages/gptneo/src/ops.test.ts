import * as tf from '@tensorflow/tfjs-core';

import { initBackend } from '@modularevo/core-tensor';

import { worstMismatch } from '../test/helpers';
import { crossEntropySum, denseLinear, embedding, layerNorm, matMul } from './ops';

const CLOSE = { abs: 1e-5, rel: 1e-5 };

beforeAll(async () => {
  await initBackend();
});

// Deterministic values in [-1, 1) so failures reproduce.
function filled(shape: number[], seed: number): tf.Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  const data = Float32Array.from({ length: size }, (_, i) => Math.sin(seed * 1000 + i * 12.9898) % 1);
  return tf.tensor(data, shape);
}

function expectClose(actual: tf.Tensor, expected: tf.Tensor): void {
  expect(actual.shape).toEqual(expected.shape);
  expect(worstMismatch(actual.dataSync(), expected.dataSync(), CLOSE)).toBeUndefined();
}

describe('matMul', () => {
  const cases: [string, number[], number[], boolean][] = [
    ['2-D', [5, 3], [3, 4], false],
    ['2-D transposed', [5, 3], [4, 3], true],
    ['4-D batched', [2, 3, 5, 4], [2, 3, 4, 6], false],
    ['4-D batched transposed', [2, 3, 5, 4], [2, 3, 6, 4], true],
  ];

  it.each(cases)('%s matches tf.matMul and its gradients', (_name, shapeA, shapeB, transposeB) => {
    tf.tidy(() => {
      const a = filled(shapeA, 1);
      const b = filled(shapeB, 2);
      const upstream = filled(tf.matMul(a, b, false, transposeB).shape, 3);
      const loss = (f: typeof matMul) => (x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(f(x, y, transposeB), upstream));

      const ours = tf.grads(loss(matMul))([a, b]);
      const native = tf.grads(loss((x, y, t) => tf.matMul(x, y, false, t)))([a, b]);
      expectClose(matMul(a, b, transposeB), tf.matMul(a, b, false, transposeB));
      expectClose(ours[0], native[0]);
      expectClose(ours[1], native[1]);
    });
  });
});

describe('denseLinear', () => {
  it('computes x W^T + b with gradients for all three', () => {
    tf.tidy(() => {
      const layer = { name: 'fc', weight: 'fc.weight', bias: 'fc.bias', inFeatures: 3, outFeatures: 4 };
      const x = filled([2, 5, 3], 1);
      const weight = filled([4, 3], 2) as tf.Tensor2D;
      const bias = filled([4], 3) as tf.Tensor1D;
      const upstream = filled([2, 5, 4], 4);

      const ours = tf.grads((a: tf.Tensor, w: tf.Tensor, c: tf.Tensor) =>
        tf.sum(tf.mul(denseLinear(layer, a, w as tf.Tensor2D, c as tf.Tensor1D), upstream)),
      )([x, weight, bias]);
      const reference = (a: tf.Tensor, w: tf.Tensor, c: tf.Tensor) =>
        tf.reshape(tf.add(tf.matMul(tf.reshape(a, [10, 3]), w, false, true), c), [2, 5, 4]);
      const native = tf.grads((a: tf.Tensor, w: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(reference(a, w, c), upstream)))([
        x,
        weight,
        bias,
      ]);

      expectClose(denseLinear(layer, x, weight, bias), reference(x, weight, bias));
      ours.forEach((grad, i) => expectClose(grad, native[i]));
    });
  });
});

describe('embedding', () => {
  it('sums the gradient of repeated ids', () => {
    tf.tidy(() => {
      const table = filled([6, 3], 1) as tf.Tensor2D;
      const ids = tf.tensor2d([[0, 2, 2], [5, 2, 0]], [2, 3], 'int32');
      const upstream = filled([2, 3, 3], 2);

      const ours = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(embedding(t as tf.Tensor2D, ids), upstream)))(table);
      // Lookup as a one-hot product, whose gradient needs no gather.
      const oneHot = tf.oneHot(tf.reshape(ids, [-1]), 6); // [6 ids, 6 rows]
      const native = tf.grad((t: tf.Tensor) =>
        tf.sum(tf.mul(tf.reshape(tf.matMul(oneHot, t), [2, 3, 3]), upstream)),
      )(table);

      expectClose(embedding(table, ids), tf.reshape(tf.matMul(oneHot, table), [2, 3, 3]));
      expectClose(ours, native);
    });
  });
});

describe('crossEntropySum', () => {
  it('matches log-softmax cross-entropy and skips ignored rows', () => {
    tf.tidy(() => {
      const logits = tf.mul(filled([4, 5], 1), 4) as tf.Tensor2D;
      const labels = tf.tensor1d([3, -100, 0, 4], 'int32');
      const weights = tf.tensor1d([1, 0, 1, 1]);
      const safe = tf.tensor1d([3, 0, 0, 4], 'int32');

      const reference = (x: tf.Tensor) =>
        tf.neg(tf.sum(tf.mul(tf.sum(tf.mul(tf.logSoftmax(x), tf.oneHot(safe, 5)), 1), weights)));
      const { sum, count } = crossEntropySum(logits, labels);

      expectClose(sum, reference(logits));
      expect(count.dataSync()[0]).toBe(3);
      expectClose(
        tf.grad((x: tf.Tensor) => crossEntropySum(x as tf.Tensor2D, labels).sum)(logits),
        tf.grad(reference)(logits),
      );
    });
  });
});

describe('layerNorm', () => {
  it('normalises with biased variance as torch.nn.LayerNorm', () => {
    tf.tidy(() => {
      const row = [1, 2, 4, 9];
      const mean = row.reduce((a, b) => a + b) / row.length;
      const variance = row.reduce((a, b) => a + (b - mean) ** 2, 0) / row.length;
      const expected = row.map((value) => ((value - mean) / Math.sqrt(variance + 1e-5)) * 2 + 0.5);

      const actual = layerNorm(tf.tensor2d([row]), tf.fill([4], 2), tf.fill([4], 0.5), 1e-5);
      expect(worstMismatch(actual.dataSync(), expected, CLOSE)).toBeUndefined();
    });
  });
});
