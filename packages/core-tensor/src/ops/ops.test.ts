import * as tf from '@tensorflow/tfjs-core';

import { initBackend } from '../backend';
import { erf, maxAbsDiff } from '../backend/__tests__/numeric';
import { InvalidInputError, MismatchError } from '../errors';
import { causalMask, crossEntropy, dropout, FLOAT32_MIN, gelu, geluNew, layerNorm, linear, paddingMask, rmsNorm } from './index';

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
