import * as tf from '@tensorflow/tfjs-core';

import { binarize, hardtanh01 } from './binarization';
import { expectTensorClose, loadMaskingFixture, type MaskingFixture } from './testing/masking-fixture';

let golden: MaskingFixture;

beforeAll(async () => {
  golden = await loadMaskingFixture();
});

describe('elementwise mask functions', () => {
  // The gradient cases differentiate sum(W * f(score) * U), as the fixture was made.
  const loss = (f: (score: tf.Tensor) => tf.Tensor) => (score: tf.Tensor) =>
    tf.sum(tf.mul(tf.mul(golden.tensor('elementwise.W'), f(score)), golden.tensor('elementwise.U')));

  it('fixture holds every listed key', () => {
    for (const key of golden.json.elementwise.keys as string[]) expect(golden.tensors.has(key)).toBe(true);
  });

  it('binarize matches score > 0 exactly', () => {
    expectTensorClose(binarize(golden.tensor('elementwise.scores')), golden.tensor('elementwise.binarized'), 0);
  });

  it('hardtanh01 matches clamp to [0, 1] exactly', () => {
    expectTensorClose(hardtanh01(golden.tensor('elementwise.scores')), golden.tensor('elementwise.hardtanh_0_1'), 0);
  });

  it('binarize gradient is the clamped upstream gradient', () => {
    const grad = tf.grad(loss(binarize))(golden.tensor('elementwise.scores'));
    expectTensorClose(grad, golden.tensor('elementwise.grad_binarized_path'), 1e-6);
  });

  it('binarize gradient ignores the score value', () => {
    const upstream = golden.tensor('elementwise.upstream_into_binarization');
    const grad = tf.grad(loss(binarize))(golden.tensor('elementwise.scores'));
    expectTensorClose(grad, tf.clipByValue(upstream, -1, 1), 1e-6);
  });

  it('hardtanh01 gradient passes only inside (0, 1)', () => {
    const grad = tf.grad(loss(hardtanh01))(golden.tensor('elementwise.scores'));
    expectTensorClose(grad, golden.tensor('elementwise.grad_hardtanh_path'), 1e-6);
  });

  it('hardtanh01 gradient is zero at both boundaries', () => {
    const score = tf.tensor1d([0, 1, 0.5, -0.5, 1.5]);
    const grad = tf.grad((s: tf.Tensor) => tf.sum(hardtanh01(s)))(score);
    expect(Array.from(grad.dataSync())).toEqual([0, 0, 1, 0, 0]);
  });

  it('binarize maps -0, 0 and NaN to 0', () => {
    const mask = binarize(tf.tensor1d([-0, 0, NaN, 1e-30, -1e-30]));
    expect(Array.from(mask.dataSync())).toEqual([0, 0, 0, 1, 0]);
  });
});
