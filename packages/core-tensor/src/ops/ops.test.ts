import * as tf from '@tensorflow/tfjs-core';

import { initBackend } from '../backend';
import { erf, maxAbsDiff, testValues } from '../backend/__tests__/numeric';
import { InvalidInputError, MismatchError } from '../errors';
import {
  causalMask,
  crossEntropy,
  dropout,
  embedding,
  FLOAT32_MIN,
  gelu,
  geluNew,
  layerNorm,
  linear,
  maskedSoftmax,
  paddingMask,
  rmsNorm,
} from './index';

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

function values(t: tf.Tensor): number[] {
  return Array.from(t.dataSync());
}

describe('linear', () => {
  it('computes x W^T + b for any leading shape', () => {
    const x = tf.tensor3d([1, 2, 3, 4, 5, 6], [1, 2, 3]); // [1, 2, in 3]
    const weight = tf.tensor2d([1, 0, -1, 2, 1, 0], [2, 3]); // [out 2, in 3]
    const bias = tf.tensor1d([0.5, -1]);
    const y = linear(x, weight, bias);
    expect(y.shape).toEqual([1, 2, 2]);
    // row (1, 2, 3): 1 - 3 + 0.5 = -1.5 and 2 + 2 - 1 = 3; row (4, 5, 6): 4 - 6 + 0.5 and 8 + 5 - 1
    expect(values(y)).toEqual([-1.5, 3, -1.5, 12]);
    expect(values(linear(x, weight))).toEqual([-2, 4, -2, 13]);
  });

  it('rejects mismatched shapes', () => {
    const weight = tf.zeros([2, 3]) as tf.Tensor2D;
    expect(() => linear(tf.zeros([4, 2]), weight)).toThrow(MismatchError);
    expect(() => linear(tf.zeros([4, 3]), weight, tf.zeros([3]) as tf.Tensor1D)).toThrow(/bias has shape \[3\], expected \[2\]/);
    expect(() => linear(tf.zeros([4, 3]), tf.zeros([2, 3, 1]) as unknown as tf.Tensor2D)).toThrow(/weight has shape/);
  });
});

describe('layerNorm', () => {
  it('normalises over the last axis with biased variance', () => {
    // [1, 3]: mean 2, variance 2/3, so (x - 2) / sqrt(2/3 + eps)
    const y = layerNorm(tf.tensor2d([1, 2, 3], [1, 3]), tf.tensor1d([1, 2, 1]), tf.tensor1d([0, 0, 1]), 1e-5);
    const scale = 1 / Math.sqrt(2 / 3 + 1e-5);
    expect(maxAbsDiff(values(y), [-scale, 0, scale + 1])).toBeLessThan(1e-6);
  });

  it('rejects a gamma of the wrong size', () => {
    expect(() => layerNorm(tf.zeros([2, 3]), tf.ones([2]) as tf.Tensor1D, tf.zeros([3]) as tf.Tensor1D)).toThrow(MismatchError);
  });
});

describe('rmsNorm', () => {
  it('scales by the root mean square without centering', () => {
    // [3, 4]: mean square 12.5
    const y = rmsNorm(tf.tensor2d([3, 4], [1, 2]), tf.tensor1d([1, 2]), 1e-6);
    const scale = 1 / Math.sqrt(12.5 + 1e-6);
    expect(maxAbsDiff(values(y), [3 * scale, 8 * scale])).toBeLessThan(1e-6);
  });
});

describe('gelu', () => {
  const inputs = [-3, -1, -0.5, 0, 0.5, 1, 2.5];

  it('matches the exact erf form', () => {
    const expected = inputs.map((x) => 0.5 * x * (1 + erf(x / Math.SQRT2)));
    expect(maxAbsDiff(values(gelu(tf.tensor1d(inputs))), expected)).toBeLessThan(1e-6);
  });

  it('matches the tanh form of gelu_new', () => {
    const expected = inputs.map((x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))));
    expect(maxAbsDiff(values(geluNew(tf.tensor1d(inputs))), expected)).toBeLessThan(1e-6);
  });
});

describe('crossEntropy', () => {
  it('averages over kept labels as PyTorch does', () => {
    // logits [2, 2, 3]; labels -100 at one position
    const logits = tf.tensor3d([0, 1, 2, 1, 1, 1, 3, 0, 0, 0, 0, 5], [2, 2, 3]);
    const labels = tf.tensor2d([[2, -100], [0, 1]], [2, 2], 'int32');
    const logSumExp = (row: number[]) => Math.log(row.reduce((s, v) => s + Math.exp(v), 0));
    const expected = (logSumExp([0, 1, 2]) - 2 + logSumExp([3, 0, 0]) - 3 + logSumExp([0, 0, 5]) - 0) / 3;
    expect(Math.abs(crossEntropy(logits, labels).dataSync()[0] - expected)).toBeLessThan(1e-6);
  });

  it('keeps precision for a far-off target', () => {
    // the target logit is 200 below the maximum: PyTorch gives 200 + log(1 + e^-200), not Infinity
    const loss = crossEntropy(tf.tensor2d([200, 0], [1, 2]), tf.tensor1d([1], 'int32'));
    expect(loss.dataSync()[0]).toBeCloseTo(200, 4);
  });

  it('honours a custom ignore index', () => {
    const logits = tf.tensor2d([0, 0, 1, 1], [2, 2]);
    const loss = crossEntropy(logits, tf.tensor1d([0, 7], 'int32'), { ignoreIndex: 7 });
    expect(loss.dataSync()[0]).toBeCloseTo(Math.log(2), 6);
  });

  it('returns NaN when every label is ignored', () => {
    const loss = crossEntropy(tf.zeros([2, 3]), tf.tensor1d([-100, -100], 'int32'));
    expect(Number.isNaN(loss.dataSync()[0])).toBe(true);
  });

  it('rejects bad labels', () => {
    const logits = tf.zeros([2, 3]);
    expect(() => crossEntropy(logits, tf.tensor1d([0, 3], 'int32'))).toThrow(/label 3 at flat position 1 is outside \[0, 3\)/);
    expect(() => crossEntropy(logits, tf.tensor1d([0, 1]))).toThrow(InvalidInputError);
    expect(() => crossEntropy(logits, tf.tensor1d([0, 1, 2], 'int32'))).toThrow(MismatchError);
  });
});

describe('dropout', () => {
  it('drops with the seed and scales the rest', () => {
    const x = tf.ones([1000]);
    const first = values(dropout(x, 0.25, 7));
    expect(values(dropout(x, 0.25, 7))).toEqual(first);
    expect(values(dropout(x, 0.25, 8))).not.toEqual(first);
    expect(new Set(first)).toEqual(new Set([0, Math.fround(1 / 0.75)]));
    const kept = first.filter((v) => v > 0).length / 1000;
    expect(Math.abs(kept - 0.75)).toBeLessThan(4 * Math.sqrt((0.25 * 0.75) / 1000));
  });

  it('returns the input at rate 0 and rejects rates outside [0, 1)', () => {
    const x = tf.ones([3]);
    expect(dropout(x, 0, 1)).toBe(x);
    expect(() => dropout(x, 1, 1)).toThrow(InvalidInputError);
    expect(() => dropout(x, -0.1, 1)).toThrow(InvalidInputError);
  });
});

describe('masks', () => {
  it('builds a causal mask', () => {
    // tfjs returns bool tensors as 0 and 1
    expect(causalMask(3).arraySync()).toEqual([
      [1, 0, 0],
      [1, 1, 0],
      [1, 1, 1],
    ]);
  });

  it('places queries after cached keys', () => {
    expect(causalMask(1, 3).arraySync()).toEqual([[1, 1, 1]]);
  });

  it('limits a local window', () => {
    // GPT-Neo local attention: query i attends to keys j with i - 2 < j <= i
    expect(causalMask(4, 4, { windowSize: 2 }).arraySync()).toEqual([
      [1, 0, 0, 0],
      [1, 1, 0, 0],
      [0, 1, 1, 0],
      [0, 0, 1, 1],
    ]);
  });

  it('rejects invalid lengths', () => {
    expect(() => causalMask(3, 2)).toThrow(InvalidInputError);
    expect(() => causalMask(2, 2, { windowSize: 0 })).toThrow(InvalidInputError);
  });

  it('turns an attention mask into an additive float32 mask', () => {
    const mask = paddingMask(tf.tensor2d([[1, 1, 0]], [1, 3], 'int32'));
    expect(mask.shape).toEqual([1, 1, 1, 3]);
    expect(mask.dtype).toBe('float32');
    expect(values(mask).map(Math.abs)).toEqual([0, 0, Math.abs(Math.fround(FLOAT32_MIN))]);
    expect(() => paddingMask(tf.ones([3]))).toThrow(InvalidInputError);
  });
});

// The ops above as tfjs derives them, composed from elementary ops: references for the gradients.
const composed = {
  linear: (x: tf.Tensor, w: tf.Tensor, b?: tf.Tensor) => {
    const y = tf.matMul(tf.reshape(x, [-1, w.shape[1]]), w, false, true); // [rows, out]
    return tf.reshape(b ? tf.add(y, b) : y, [...x.shape.slice(0, -1), w.shape[0]]);
  },
  layerNorm: (x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) => {
    const centered = tf.sub(x, tf.mean(x, -1, true));
    const normalized = tf.mul(centered, tf.rsqrt(tf.add(tf.mean(tf.square(centered), -1, true), 1e-5)));
    return tf.add(tf.mul(normalized, gamma), beta);
  },
  gelu: (x: tf.Tensor) => tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1)),
  geluNew: (x: tf.Tensor) =>
    tf.mul(x, tf.sigmoid(tf.mul(tf.add(x, tf.mul(tf.mul(tf.square(x), x), 0.044715)), 2 * Math.sqrt(2 / Math.PI)))),
};

function filled(shape: number[], seed: number, scale = 1, offset = 0): tf.Tensor {
  return tf.tensor(testValues(shape.reduce((a, b) => a * b, 1), seed).map((v) => offset + scale * v), shape);
}

/** Largest |a - b| over abs 1e-5 + rel 1e-4 * |b|: below 1 means every entry is close. */
function closeness(actual: tf.Tensor, expected: tf.Tensor): number {
  expect(actual.shape).toEqual(expected.shape);
  const a = actual.dataSync();
  const b = expected.dataSync();
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / (1e-5 + 1e-4 * Math.abs(b[i])));
  return worst;
}

/** Compares values and the gradients of every input under a fixed upstream gradient. */
function expectSameGradients(ours: (...xs: tf.Tensor[]) => tf.Tensor, reference: (...xs: tf.Tensor[]) => tf.Tensor, inputs: tf.Tensor[]): void {
  tf.tidy(() => {
    const upstream = filled(reference(...inputs).shape, 99);
    const loss = (f: (...xs: tf.Tensor[]) => tf.Tensor) => (...xs: tf.Tensor[]) => tf.sum(tf.mul(f(...xs), upstream));
    expect(closeness(ours(...inputs), reference(...inputs))).toBeLessThan(1);
    const ourGradients = tf.grads(loss(ours))(inputs);
    const referenceGradients = tf.grads(loss(reference))(inputs);
    ourGradients.forEach((gradient, i) => expect({ input: i, closeness: closeness(gradient, referenceGradients[i]) < 1 }).toEqual({ input: i, closeness: true }));
  });
}

/** Bytes held for backpropagation after `f` ran forward: measured when the backward pass starts. */
function bytesSavedBy(f: (x: tf.Tensor) => tf.Tensor, x: tf.Tensor): number {
  let heldBytes = 0;
  const probe = tf.customGrad((y: tf.Tensor) => ({
    value: tf.clone(y),
    gradFunc: (dy: tf.Tensor) => {
      heldBytes = tf.memory().numBytes;
      return tf.clone(dy);
    },
  }));
  tf.tidy(() => {
    const before = tf.memory().numBytes;
    tf.grad((input: tf.Tensor) => tf.sum(probe(f(input))))(x);
    heldBytes -= before;
  });
  return heldBytes;
}

describe('op gradients', () => {
  it('linear matches the composed product, with and without bias', () => {
    expectSameGradients(
      (x, w, b) => linear(x, w as tf.Tensor2D, b as tf.Tensor1D),
      composed.linear,
      [filled([2, 3, 6], 1), filled([5, 6], 2), filled([5], 3)],
    );
    expectSameGradients((x, w) => linear(x, w as tf.Tensor2D), (x, w) => composed.linear(x, w), [filled([4, 6], 4), filled([5, 6], 5)]);
  });

  it('linear computes no weight gradient for a constant weight', () => {
    const weight = filled([5, 6], 6) as tf.Tensor2D;
    const x = filled([4, 6], 7);
    const products = async (f: () => tf.Tensor) => (await tf.profile(f)).kernels.filter((k) => k.name === 'BatchMatMul').length;

    // forward product, then only the product for the gradient of x
    return products(() => tf.grad((input: tf.Tensor) => tf.sum(linear(input, weight)))(x)).then((count) => {
      expect(count).toBe(2);
      tf.dispose([weight, x]);
    });
  });

  it('layerNorm matches the composed normalisation', () => {
    expectSameGradients(
      (x, g, b) => layerNorm(x, g as tf.Tensor1D, b as tf.Tensor1D, 1e-5),
      composed.layerNorm,
      [filled([2, 3, 8], 8, 3, 0.5), filled([8], 9, 0.5, 1), filled([8], 10)],
    );
  });

  it('gelu and geluNew match their composed forms', () => {
    expectSameGradients((x) => gelu(x), composed.gelu, [filled([4, 16], 11, 4)]);
    expectSameGradients((x) => geluNew(x), composed.geluNew, [filled([4, 16], 12, 4)]);
  });

  it('maskedSoftmax matches the softmax of the sum', () => {
    const bias = tf.tensor4d([0, FLOAT32_MIN, 0, 0, 0, FLOAT32_MIN, 0, 0], [2, 1, 1, 4]);
    expectSameGradients((x) => maskedSoftmax(x, bias), (x) => tf.softmax(tf.add(x, bias)), [filled([2, 3, 2, 4], 13, 3)]);
    expect(() => maskedSoftmax(tf.zeros([2, 4]), tf.zeros([3, 4]))).toThrow(MismatchError);
    bias.dispose();
  });

  it('embedding sums the gradients of repeated ids', () => {
    const ids = tf.tensor2d([[0, 2, 2], [5, 2, 0]], [2, 3], 'int32');
    expectSameGradients((t) => embedding(t, ids), (t) => tf.gather(t, ids), [filled([6, 3], 14)]);
    expect(() => embedding(tf.zeros([6, 3]), tf.tensor1d([1]))).toThrow(InvalidInputError);
    ids.dispose();
  });

  it('crossEntropy gradient is (softmax - one_hot) over the kept labels', () => {
    // the formula itself, bit for bit: ignored rows (-100) give zero rows
    const logits = filled([4, 7], 15, 3);
    const labels = tf.tensor1d([3, -100, 0, 6], 'int32');
    const gradient = tf.grad((x: tf.Tensor) => crossEntropy(x, labels))(logits);
    const expected = tf.tidy(() => {
      const weights = tf.div(tf.tensor1d([1, 0, 1, 1]), 3);
      const oneHot = tf.oneHot(tf.tensor1d([3, 0, 0, 6], 'int32'), 7);
      return tf.mul(tf.sub(tf.softmax(logits), oneHot), tf.reshape(weights, [4, 1]));
    });
    expect(Array.from(gradient.dataSync())).toEqual(Array.from(expected.dataSync()));
    tf.dispose([logits, labels, gradient, expected]);
  });

  it('keep less for backpropagation than the composed forms', () => {
    const x = filled([16, 32], 16, 2);
    const gamma = filled([32], 17, 0.5, 1) as tf.Tensor1D;
    const beta = filled([32], 18) as tf.Tensor1D;
    const inputBytes = 4 * x.size;
    const overhead = bytesSavedBy((input) => tf.neg(input), x); // the probe and the sum; a negation keeps nothing

    expect(bytesSavedBy((input) => geluNew(input), x) - overhead).toBeLessThanOrEqual(inputBytes);
    expect(bytesSavedBy(composed.geluNew, x) - overhead).toBeGreaterThan(4 * inputBytes);
    expect(bytesSavedBy((input) => layerNorm(input, gamma, beta), x) - overhead).toBeLessThanOrEqual(inputBytes + 4 * 32);
    expect(bytesSavedBy((input) => composed.layerNorm(input, gamma, beta), x) - overhead).toBeGreaterThan(4 * inputBytes);
    tf.dispose([x, gamma, beta]);
  });
});
