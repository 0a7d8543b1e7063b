import * as tf from '@tensorflow/tfjs-core';

import { causalMask, crossEntropy, FLOAT32_MIN, gelu, geluNew, layerNorm } from '../ops';
import { BACKENDS, erf, finiteDifferences, maxAbsDiff, runOn, testValues } from './__tests__/numeric';

type Backend = (typeof BACKENDS)[number];

/** Gradients of `loss` with respect to each input, computed on `backend`. */
async function gradientsOn(backend: Backend, inputs: () => tf.Tensor[], loss: (...xs: tf.Tensor[]) => tf.Scalar) {
  const outputs = await runOn(backend, () => tf.grads(loss)(inputs()));
  return outputs.map((o) => o.values);
}

/** Checks both backends against `expected` (per input) and against each other. */
async function expectGradients(
  inputs: () => tf.Tensor[],
  loss: (...xs: tf.Tensor[]) => tf.Scalar,
  expected: number[][],
  tolerance: number,
) {
  const results: Record<string, number[][]> = {};
  for (const backend of BACKENDS) {
    results[backend] = await gradientsOn(backend, inputs, loss);
    expected.forEach((values, i) => {
      expect(maxAbsDiff(results[backend][i], values)).toBeLessThan(tolerance);
    });
  }
  results.wasm.forEach((values, i) => expect(maxAbsDiff(values, results.cpu[i])).toBeLessThan(1e-5));
}

const x = testValues(12, 11).map((v) => 2 * v); // [2, 6] inputs in [-2, 2)
const weights = testValues(12, 12); // upstream weights, so the loss is not symmetric

function weightedSum(values: number[]): number {
  return values.reduce((sum, v, i) => sum + v * weights[i], 0);
}

describe('gradients on wasm and cpu', () => {
  it('flow through an embedding lookup', async () => {
    const table = testValues(8, 13); // [4, 2]
    const ids = [3, 1, 3, 0, 3, 2];
    const upstream = weights.slice(0, 12); // [6, 2]

    // d/dE sum(E[ids] * U): row r collects the upstream rows whose id is r
    const expected = new Array(8).fill(0);
    ids.forEach((id, i) => {
      expected[id * 2] += upstream[i * 2];
      expected[id * 2 + 1] += upstream[i * 2 + 1];
    });
    await expectGradients(
      () => [tf.tensor2d(table, [4, 2])],
      (e) => tf.sum(tf.mul(tf.gather(e, tf.tensor1d(ids, 'int32')), tf.tensor2d(upstream, [6, 2]))),
      [expected],
      1e-6,
    );
  });

  it('flow through layer norm', async () => {
    const gamma = [1.1, 0.9, 1.3, 0.7, 1.0, 1.2];
    const beta = [0.1, -0.2, 0.3, 0, 0.05, -0.1];
    const reference = (input: number[], g: number[], b: number[]) => {
      const out: number[] = [];
      for (let row = 0; row < 2; row++) {
        const values = input.slice(row * 6, row * 6 + 6);
        const mean = values.reduce((s, v) => s + v, 0) / 6;
        const variance = values.reduce((s, v) => s + (v - mean) ** 2, 0) / 6;
        values.forEach((v, i) => out.push(((v - mean) / Math.sqrt(variance + 1e-5)) * g[i] + b[i]));
      }
      return weightedSum(out);
    };
    await expectGradients(
      () => [tf.tensor2d(x, [2, 6]), tf.tensor1d(gamma), tf.tensor1d(beta)],
      (input, g, b) => tf.sum(tf.mul(layerNorm(input, g as tf.Tensor1D, b as tf.Tensor1D, 1e-5), tf.tensor2d(weights, [2, 6]))),
      [
        finiteDifferences((v) => reference(v, gamma, beta), x),
        finiteDifferences((g) => reference(x, g, beta), gamma),
        finiteDifferences((b) => reference(x, gamma, b), beta),
      ],
      1e-4,
    );
  });

  it('flow through GELU in both forms', async () => {
    const exact = (v: number[]) => weightedSum(v.map((t) => 0.5 * t * (1 + erf(t / Math.SQRT2))));
    const tanhForm = (v: number[]) =>
      weightedSum(v.map((t) => 0.5 * t * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (t + 0.044715 * t ** 3)))));
    const upstream = () => tf.tensor2d(weights, [2, 6]);

    await expectGradients(() => [tf.tensor2d(x, [2, 6])], (v) => tf.sum(tf.mul(gelu(v), upstream())), [finiteDifferences(exact, x)], 1e-4);
    await expectGradients(() => [tf.tensor2d(x, [2, 6])], (v) => tf.sum(tf.mul(geluNew(v), upstream())), [finiteDifferences(tanhForm, x)], 1e-4);
  });

  it('flow through a softmax with a causal mask', async () => {
    const scores = testValues(18, 14).map((v) => 3 * v); // [2, 3, 3]
    const upstream = testValues(18, 15);
    const reference = (s: number[]) => {
      let total = 0;
      for (let row = 0; row < 6; row++) {
        const query = row % 3;
        const visible = s.slice(row * 3, row * 3 + query + 1); // keys 0..query
        const max = Math.max(...visible);
        const exps = visible.map((v) => Math.exp(v - max));
        const sum = exps.reduce((a, b) => a + b, 0);
        exps.forEach((e, key) => (total += (e / sum) * upstream[row * 3 + key]));
      }
      return total;
    };
    await expectGradients(
      () => [tf.tensor3d(scores, [2, 3, 3])],
      (s) => tf.sum(tf.mul(tf.softmax(tf.where(causalMask(3), s, FLOAT32_MIN)), tf.tensor3d(upstream, [2, 3, 3]))),
      [finiteDifferences(reference, scores)],
      1e-4,
    );
  });

  it('flow through cross-entropy with an ignored label', async () => {
    const logits = testValues(12, 16).map((v) => 4 * v); // [3, 4]
    const labels = [2, -100, 0];

    // d/dlogits of the mean over the two kept rows: (softmax - one_hot) / 2, zero for the ignored row
    const expected: number[] = [];
    for (let row = 0; row < 3; row++) {
      const values = logits.slice(row * 4, row * 4 + 4);
      const max = Math.max(...values);
      const sum = values.reduce((s, v) => s + Math.exp(v - max), 0);
      values.forEach((v, k) => {
        const gradient = Math.exp(v - max) / sum - (k === labels[row] ? 1 : 0);
        expected.push(labels[row] === -100 ? 0 : gradient / 2);
      });
    }
    await expectGradients(
      () => [tf.tensor2d(logits, [3, 4])],
      (l) => crossEntropy(l, tf.tensor1d(labels, 'int32')),
      [expected],
      1e-6,
    );
  });

  it('reduce broadcast batch axes of a matmul', async () => {
    // d/dW sum(X W) for X [2, 3, 4] and W [4, 5]: row k of the gradient is the sum of X[..., k]
    const input = testValues(24, 17);
    const columnSums = [0, 1, 2, 3].map((k) => input.filter((_, i) => i % 4 === k).reduce((s, v) => s + v, 0));
    const expected = columnSums.flatMap((sum) => new Array(5).fill(sum));
    await expectGradients(
      () => [tf.tensor2d(testValues(20, 18), [4, 5])],
      (w) => tf.sum(tf.matMul(tf.tensor3d(input, [2, 3, 4]), w)),
      [expected],
      1e-5,
    );
  });

  it('pass zero through comparisons', async () => {
    // where(x > 0, x, 2x): slope 1 where x > 0 and 2 elsewhere; the comparison adds nothing
    const expected = x.map((v) => (v > 0 ? 1 : 2));
    await expectGradients(
      () => [tf.tensor1d(x)],
      (v) => tf.sum(tf.where(tf.greater(v, 0), v, tf.mul(v, 2))),
      [expected],
      1e-6,
    );
  });
});

describe('training ops on wasm and cpu', () => {
  const input = () => tf.tensor3d(testValues(24, 21).map((v) => 2 * v), [2, 3, 4]);
  const upstream = () => tf.tensor3d(testValues(24, 22), [2, 3, 4]);

  // each case maps x [2, 3, 4] to a tensor; the loss weights it so every output gets a gradient
  const cases: [string, (x: tf.Tensor) => tf.Tensor][] = [
    ['transpose and reshape', (x) => tf.reshape(tf.transpose(x, [0, 2, 1]), [2, 3, 4])],
    ['concat and slice', (x) => tf.concat([tf.slice(x, [0, 0, 2], [2, 3, 2]), tf.slice(x, [0, 0, 0], [2, 3, 2])], -1)],
    ['log-softmax', (x) => tf.logSoftmax(x)],
    ['tanh and sigmoid', (x) => tf.add(tf.tanh(x), tf.sigmoid(x))],
    ['relu', (x) => tf.relu(x)],
    ['sqrt and rsqrt', (x) => tf.add(tf.sqrt(tf.add(tf.abs(x), 1)), tf.rsqrt(tf.add(tf.abs(x), 1)))],
    ['mean and sum', (x) => tf.mul(tf.mean(x, -1, true), tf.sum(x, 1, true))],
    ['padding mask add', (x) => tf.softmax(tf.add(x, tf.mul(tf.sub(1, tf.tensor2d([[1, 1, 1, 0], [1, 1, 0, 0]])), FLOAT32_MIN).reshape([2, 1, 4])))],
    ['dropout', (x) => tf.dropout(x, 0.3, undefined, 5)],
  ];

  it.each(cases)('%s agree', async (_name, op) => {
    const run = () => {
      const { value, grads } = tf.valueAndGrads((x: tf.Tensor) => tf.sum(tf.mul(op(x), upstream())))([input()]);
      return [value, grads[0]];
    };
    const [wasm, cpu] = [await runOn('wasm', run), await runOn('cpu', run)];
    expect(maxAbsDiff(wasm[0].values, cpu[0].values)).toBeLessThan(1e-5);
    expect(maxAbsDiff(wasm[1].values, cpu[1].values)).toBeLessThan(1e-5);
  });

  it('T5 relative position buckets agree', async () => {
    // bidirectional buckets as T5: 8 buckets, max distance 16, int32 and float arithmetic mixed
    const run = () => {
      const context = tf.reshape(tf.range(0, 12, 1, 'int32'), [12, 1]);
      const memory = tf.reshape(tf.range(0, 12, 1, 'int32'), [1, 12]);
      const relative = tf.sub(memory, context);
      const half = 4;
      const direction = tf.mul(tf.cast(tf.greater(relative, 0), 'int32'), half);
      const distance = tf.abs(relative);
      const exact = 2;
      const isSmall = tf.less(distance, exact);
      const logBucket = tf.add(
        tf.cast(tf.mul(tf.div(tf.log(tf.div(tf.cast(distance, 'float32'), exact)), Math.log(16 / exact)), half - exact), 'int32'),
        exact,
      );
      const large = tf.minimum(logBucket, tf.fill(logBucket.shape, half - 1, 'int32'));
      return tf.add(direction, tf.where(isSmall, distance, large));
    };
    const [wasm, cpu] = [await runOn('wasm', run), await runOn('cpu', run)];
    expect(wasm[0]).toEqual(cpu[0]);
    // query 0: key 1 is exact (4 + 1); keys 2-5 share log bucket 4 + 2; from key 6 on, 4 + 3
    expect(wasm[0].values.slice(0, 12)).toEqual([0, 5, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7]);
  });
});
