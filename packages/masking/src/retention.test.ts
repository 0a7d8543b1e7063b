import * as tf from '@tensorflow/tfjs-core';
import type { StateDict } from '@modularevo/core-tensor';

import { retainedEntries, weightRetention } from './retention';
import { MaskScores } from './scores';
import { loadMaskingFixture, type MaskingFixture } from './testing/masking-fixture';
import { fixtureMaskKey, TINY_LAYERS } from './testing/tiny-network';

let golden: MaskingFixture;
let scores: MaskScores;

beforeAll(async () => {
  golden = await loadMaskingFixture();
  const values: StateDict = new Map();
  for (const layer of TINY_LAYERS) {
    for (const name of [layer.weight, layer.bias!]) values.set(name, golden.tensors.get(`module.scores.${fixtureMaskKey(name)}`)!);
  }
  scores = MaskScores.fromValues(TINY_LAYERS, values);
});

afterAll(() => scores.dispose());

describe('weightRetention on the fixture module', () => {
  it('counts every mask entry', () => {
    expect(scores.numEntries).toBe(golden.json.module.num_mask_entries);
  });

  it('counts retained entries exactly', () => {
    const positive = scores.variables().reduce((sum, score) => sum + Array.from(score.dataSync()).filter((value) => value > 0).length, 0);
    expect(retainedEntries(scores)).toBe(positive);
    expect(retainedEntries(scores) / scores.numEntries).toBeCloseTo(golden.json.module.compute_wrr_binary.wrr, 6);
  });

  it('binary loss equals compute_wrr exactly', () => {
    const expected = golden.json.module.compute_wrr_binary;
    const { wrr, lossWrr } = weightRetention(scores, 'binary');
    expect(wrr.dataSync()[0]).toBe(expected.wrr);
    expect(lossWrr.dataSync()[0]).toBe(expected.loss_wrr);
  });

  it('hardtanh loss matches compute_wrr with non_bin', () => {
    const expected = golden.json.module.compute_wrr_non_bin;
    const { wrr, lossWrr } = weightRetention(scores, 'hardtanh');
    expect(wrr.dataSync()[0]).toBe(expected.wrr);
    expect(Math.abs(lossWrr.dataSync()[0] - expected.loss_wrr)).toBeLessThanOrEqual(1e-6);
  });

  it('hardtanh loss matches cal_weight_retention_rate', () => {
    const expected = golden.json.module.cal_weight_retention_rate;
    const { wrr, lossWrr } = weightRetention(scores, 'hardtanh');
    expect(wrr.dataSync()[0]).toBe(expected.wrr);
    expect(Math.abs(lossWrr.dataSync()[0] - expected.loss_wrr)).toBeLessThanOrEqual(1e-6);
  });

  it('retained count matches the positive scores', () => {
    const { wrr } = weightRetention(scores, 'binary');
    expect(Math.round(wrr.dataSync()[0] * scores.numEntries)).toBe(golden.json.module.num_positive_scores);
  });

  it('binary gradient is hardtanh(alpha / N) per entry', () => {
    const alpha = 50;
    const { grads } = scores.valueAndGrads(() => tf.mul(weightRetention(scores, 'binary').lossWrr, alpha) as tf.Scalar);
    const expected = Math.fround(Math.min(1, Math.fround(alpha / scores.numEntries)));
    for (const grad of grads.values()) for (const value of grad.dataSync()) expect(value).toBe(expected);
  });
});

describe('weightRetention on large masks', () => {
  it('stays exact past 2^24 entries', () => {
    // 2^24 + 3 entries, all kept at score 1: a float32 running sum would stop at 2^24.
    const count = 2 ** 24 + 3;
    const big = MaskScores.fromValues(
      [{ name: 'big', weight: 'big.weight', inFeatures: count, outFeatures: 1 }],
      new Map([['big.weight', { dtype: 'F32', shape: [1, count], data: new Float32Array(count).fill(1) }]]),
    );
    try {
      const { wrr, lossWrr } = weightRetention(big, 'hardtanh');
      expect(wrr.dataSync()[0]).toBe(1);
      expect(lossWrr.dataSync()[0]).toBe(1);
    } finally {
      big.dispose();
    }
  });
});
