import * as tf from '@tensorflow/tfjs-core';

import { initBackend } from '../backend';
import { InvalidInputError } from '../errors';
import { clipGradNorm } from './clip';

beforeAll(async () => {
  await initBackend();
});

describe('clipGradNorm', () => {
  it('scales gradients above the maximum norm', () => {
    // global norm sqrt(3^2 + 4^2 + 12^2) = 13
    const grads: tf.NamedTensorMap = { a: tf.tensor([3, 0]), b: tf.tensor([[4], [12]]) };

    const norm = clipGradNorm(grads, 1);

    // torch works in float32: coefficient = 1 / (13 + 1e-6), then each gradient times it
    const coefficient = Math.fround(1 / Math.fround(13 + 1e-6));
    expect(norm).toBeCloseTo(13, 5);
    expect(Array.from(grads.a.dataSync())).toEqual([Math.fround(3 * coefficient), 0]);
    expect(Array.from(grads.b.dataSync())).toEqual([Math.fround(4 * coefficient), Math.fround(12 * coefficient)]);
    tf.dispose(Object.values(grads));
  });

  it('leaves gradients below the maximum norm unchanged', () => {
    const a = tf.tensor([0.3, -0.4]);
    const grads: tf.NamedTensorMap = { a };

    const norm = clipGradNorm(grads, 1);

    expect(norm).toBeCloseTo(0.5, 6);
    expect(grads.a).toBe(a);
    expect(Array.from(grads.a.dataSync())).toEqual([Math.fround(0.3), Math.fround(-0.4)]);
    a.dispose();
  });

  it('disposes the replaced tensors', () => {
    const grads: tf.NamedTensorMap = { a: tf.tensor([30, 40]) };
    const before = tf.memory().numTensors;

    clipGradNorm(grads, 5);

    expect(tf.memory().numTensors).toBe(before);
    expect(grads.a.dataSync()[0]).toBeCloseTo(3, 5);
    grads.a.dispose();
  });

  it('returns a non-finite norm without changing the gradients', () => {
    const a = tf.tensor([NaN, 1]);
    const grads: tf.NamedTensorMap = { a };

    expect(clipGradNorm(grads, 1)).toBeNaN();
    expect(grads.a).toBe(a);
    a.dispose();
  });

  it('rejects a maximum norm that is not positive', () => {
    expect(() => clipGradNorm({}, 0)).toThrow(InvalidInputError);
    expect(() => clipGradNorm({}, NaN)).toThrow(InvalidInputError);
  });
});
