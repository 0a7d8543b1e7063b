import * as tf from '@tensorflow/tfjs-core';
import { MismatchError, type LinearLayer, type StateDict } from '@modularevo/core-tensor';

import { maskedLinear } from './masked-linear';
import { MaskScores } from './scores';
import { expectTensorClose } from './testing/masking-fixture';
import { startBackend } from './testing/backend';

const LAYER: LinearLayer = { name: 'fc', weight: 'fc.weight', bias: 'fc.bias', inFeatures: 3, outFeatures: 2 };
let WEIGHT: tf.Tensor2D;
let BIAS: tf.Tensor1D;
let X: tf.Tensor3D;
let scores: MaskScores;

beforeAll(async () => {
  await startBackend();
  WEIGHT = tf.tensor2d([[1, 2, 3], [4, 5, 6]]);
  BIAS = tf.tensor1d([10, 20]);
  X = tf.tensor3d([[[1, 0, 0], [0, 1, 0]], [[0, 0, 1], [1, 1, 1]]]); // [2, 2, 3]
  const values: StateDict = new Map([
    ['fc.weight', { dtype: 'F32', shape: [2, 3], data: new Float32Array([1, -1, 0.5, 0, 2, -3]) }],
    ['fc.bias', { dtype: 'F32', shape: [2], data: new Float32Array([-1, 0.25]) }],
  ]);
  scores = MaskScores.fromValues([LAYER], values);
});

afterAll(() => scores.dispose());

describe('maskedLinear', () => {
  it('masks weight and bias for rank-3 input', () => {
    // binary masks: weight [[1, 0, 1], [0, 1, 0]], bias [0, 1]
    const y = maskedLinear(scores)(LAYER, X, WEIGHT, BIAS);
    expect(y.shape).toEqual([2, 2, 2]);
    expectTensorClose(y, tf.tensor3d([[[1, 20], [0, 25]], [[3, 20], [4, 25]]]), 0);
  });

  it('hardtanh mode scales by clamped scores', () => {
    // clamped masks: weight [[1, 0, 0.5], [0, 1, 0]], bias [0, 0.25]
    const y = maskedLinear(scores, 'hardtanh')(LAYER, X, WEIGHT, BIAS);
    expectTensorClose(y, tf.tensor3d([[[1, 5], [0, 10]], [[1.5, 5], [2.5, 10]]]), 0);
  });

  it('leaves layers without scores dense', () => {
    const other: LinearLayer = { ...LAYER, name: 'other', weight: 'other.weight', bias: 'other.bias' };
    const y = maskedLinear(scores)(other, X, WEIGHT, BIAS);
    expectTensorClose(y, tf.tensor3d([[[11, 24], [12, 25]], [[13, 26], [16, 35]]]), 0);
  });

  it('handles a layer without bias', () => {
    const y = maskedLinear(scores)({ ...LAYER, bias: undefined }, X, WEIGHT, undefined);
    expectTensorClose(y, tf.tensor3d([[[1, 0], [0, 5]], [[3, 0], [4, 5]]]), 0);
  });

  it('rejects a weight of another shape', () => {
    expect(() => maskedLinear(scores)(LAYER, tf.ones([3, 2]) as tf.Tensor2D, tf.ones([3]) as tf.Tensor1D, undefined)).toThrow(MismatchError);
  });

  it('sends gradients only to the scores', () => {
    const { grads } = scores.valueAndGrads(() => tf.sum(maskedLinear(scores)(LAYER, X, WEIGHT, BIAS)) as tf.Scalar);
    // d sum / d mask_w[o, i] = W[o, i] * sum over rows of x[i], clamped to [-1, 1]; d / d mask_b[o] = 4 * b[o], clamped
    expect(Array.from(grads.get('fc.weight')!.dataSync())).toEqual([1, 1, 1, 1, 1, 1]);
    expect(Array.from(grads.get('fc.bias')!.dataSync())).toEqual([1, 1]);
  });
});
