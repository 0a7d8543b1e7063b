import * as tf from '@tensorflow/tfjs-core';

import { initBackend } from '../backend';
import { InvalidInputError } from '../errors';
import { evaluateLoss } from './evaluate';

beforeAll(async () => {
  await initBackend();
});

describe('evaluateLoss', () => {
  const lossFn = (value: number) => tf.scalar(value);

  it('averages batch losses and gives the perplexity', async () => {
    const result = await evaluateLoss([1, 2, 6], lossFn);

    expect(result.loss).toBe(3);
    expect(result.perplexity).toBeCloseTo(Math.exp(3), 10);
    expect(result.batches).toBe(3);
  });

  it('weights each batch', async () => {
    // losses 1 and 3 with weights 1 and 3: (1 + 9) / 4
    const result = await evaluateLoss([1, 3], lossFn, { weight: (value) => value });

    expect(result.loss).toBe(2.5);
  });

  it('reads asynchronous batches and frees their tensors', async () => {
    async function* batches() {
      for (const value of [0.5, 1.5]) yield value;
    }
    const before = tf.memory().numTensors;

    const result = await evaluateLoss(batches(), (value) => tf.mul(tf.scalar(value), tf.ones([3])).mean() as tf.Scalar);

    expect(result.loss).toBe(1);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects no batches and invalid weights', async () => {
    await expect(evaluateLoss([], lossFn)).rejects.toThrow(/no batches/);
    await expect(evaluateLoss([1], lossFn, { weight: () => -1 })).rejects.toThrow(InvalidInputError);
    await expect(evaluateLoss([1, 2], lossFn, { weight: () => 0 })).rejects.toThrow(/weights are all 0/);
  });
});
