import * as tf from '@tensorflow/tfjs-core';
import { AdamW, MismatchError, type RawTensor, type StateDict } from '@modularevo/core-tensor';

import { packMask, type BinaryMask } from './bit-packing';
import { assertMaskedOutUnchanged, moduleGradientMasks, parameterChangeReport } from './gradient-masks';
import type { Module } from './module';
import { startBackend } from './testing/backend';

function f32(shape: number[], values: number[]): RawTensor {
  return { dtype: 'F32', shape, data: new Float32Array(values) };
}

function moduleOf(masks: [string, number[], number[]][]): Module {
  const packed = new Map<string, BinaryMask>(masks.map(([name, shape, values]) => [name, packMask(values, shape)]));
  return { domain: 'math', baseModel: { config: {}, weightsSha256: '0'.repeat(64) }, weightRetentionRate: 0, training: {}, masks: packed };
}

const MODULE = moduleOf([
  ['fc.weight', [2, 2], [1, 0, 0, 1]],
  ['fc.bias', [2], [0, 1]],
]);

function base(): StateDict {
  return new Map([
    ['fc.weight', f32([2, 2], [1, 2, 3, 4])],
    ['fc.bias', f32([2], [0.5, -0.5])],
    ['ln.weight', f32([2], [1, 1])],
  ]);
}

beforeAll(async () => {
  await startBackend();
});

describe('moduleGradientMasks', () => {
  it('returns 0/1 tensors for masked parameters', () => {
    const masks = moduleGradientMasks(MODULE, ['fc.weight', 'fc.bias', 'ln.weight']);
    expect([...masks.keys()]).toEqual(['fc.weight', 'fc.bias']);
    expect(masks.get('fc.weight')!.shape).toEqual([2, 2]);
    expect(Array.from(masks.get('fc.weight')!.dataSync())).toEqual([1, 0, 0, 1]);
    expect(Array.from(masks.get('fc.bias')!.dataSync())).toEqual([0, 1]);
    tf.dispose([...masks.values()]);
  });

  it('maps prefixed names to module names', () => {
    const masks = moduleGradientMasks(MODULE, ['base_model.fc.weight', 'classifier.weight'], {
      toModuleName: (name) => name.replace(/^base_model\./, ''),
    });
    expect([...masks.keys()]).toEqual(['base_model.fc.weight']);
    tf.dispose([...masks.values()]);
  });
});

describe('parameterChangeReport', () => {
  it('counts changed entries over base parameters', () => {
    const tuned = base();
    (tuned.get('fc.weight')!.data as Float32Array)[0] = 1.5;
    (tuned.get('ln.weight')!.data as Float32Array)[1] = 0.9;
    tuned.set('classifier.weight', f32([1], [3]));

    const report = parameterChangeReport(base(), tuned, MODULE);
    expect(report.total).toBe(8);
    expect(report.changed).toBe(2);
    expect(report.changedFraction).toBe(0.25);
    expect(report.maskedOutChanged).toBe(0);
    expect(report.missing).toEqual([]);
  });

  it('treats -0 versus 0 as a change', () => {
    const before: StateDict = new Map([['w', f32([2], [0, NaN])]]);
    const after: StateDict = new Map([['w', f32([2], [-0, NaN])]]);
    expect(parameterChangeReport(before, after).changed).toBe(1);
  });

  it('compares half-precision bits', () => {
    const before: StateDict = new Map([['w', { dtype: 'BF16', shape: [2], data: new Uint16Array([0x3f80, 0x3f80]) }]]);
    const after: StateDict = new Map([['w', { dtype: 'BF16', shape: [2], data: new Uint16Array([0x3f80, 0x3f81]) }]]);
    expect(parameterChangeReport(before, after).changed).toBe(1);
  });

  it('lists base parameters the tuned weights lack', () => {
    const tuned = base();
    tuned.delete('ln.weight');
    expect(parameterChangeReport(base(), tuned).missing).toEqual(['ln.weight']);
  });

  it('rejects another dtype', () => {
    const tuned = base();
    tuned.set('ln.weight', { dtype: 'F16', shape: [2], data: new Uint16Array(2) });
    expect(() => parameterChangeReport(base(), tuned)).toThrow('"ln.weight" is F32 [2] in the base weights but F16 [2] in the fine-tuned weights');
  });

  it('rejects a mask of another shape', () => {
    const module = moduleOf([['ln.weight', [3], [1, 1, 1]]]);
    expect(() => parameterChangeReport(base(), base(), module)).toThrow(MismatchError);
  });
});

describe('assertMaskedOutUnchanged', () => {
  it('passes when only kept entries moved', () => {
    const tuned = base();
    (tuned.get('fc.weight')!.data as Float32Array)[3] = 9;
    (tuned.get('fc.bias')!.data as Float32Array)[1] = 9;
    expect(assertMaskedOutUnchanged(base(), tuned, MODULE).changed).toBe(2);
  });

  it('names the first masked-out entry that moved', () => {
    const tuned = base();
    (tuned.get('fc.weight')!.data as Float32Array)[2] = 3.0000002;
    expect(() => assertMaskedOutUnchanged(base(), tuned, MODULE)).toThrow(MismatchError);
    expect(() => assertMaskedOutUnchanged(base(), tuned, MODULE)).toThrow(
      '1 entries outside module "math" changed during fine-tuning; first: "fc.weight" entry 2',
    );
  });
});

describe('mask-guided AdamW', () => {
  /** Trains `fc.weight` and `fc.bias` for three steps; returns the weights afterwards. */
  function fineTune(useMasks: boolean): StateDict {
    const start = base();
    const variables = new Map(
      ['fc.weight', 'fc.bias'].map((name) => {
        const raw = start.get(name)!;
        return [name, tf.variable(tf.tensor(raw.data as Float32Array, raw.shape), true, `finetune_${useMasks}_${name}`)];
      }),
    );
    const optimizer = new AdamW([...variables.values()], { lr: 0.1, weightDecay: 0.01 });
    try {
      if (useMasks) {
        const masks = moduleGradientMasks(MODULE, variables.keys());
        for (const [name, mask] of masks) optimizer.setGradientMask(variables.get(name)!, mask);
        tf.dispose([...masks.values()]);
      }
      for (let step = 0; step < 3; step++) {
        const { grads } = tf.variableGrads(
          () => tf.addN([...variables.values()].map((v) => tf.sum(tf.mul(v, v)))) as tf.Scalar,
          [...variables.values()],
        );
        optimizer.step(grads);
        tf.dispose(Object.values(grads));
      }

      const tuned = base();
      for (const [name, variable] of variables) tuned.set(name, f32(variable.shape, Array.from(variable.dataSync())));
      return tuned;
    } finally {
      optimizer.dispose();
      tf.dispose([...variables.values()]);
    }
  }

  it('keeps masked-out entries bit-exact', () => {
    const report = assertMaskedOutUnchanged(base(), fineTune(true), MODULE);
    expect(report.changed).toBe(3);
    expect(report.maskedOutChanged).toBe(0);
  });

  it('check fails without gradient masks', () => {
    expect(() => assertMaskedOutUnchanged(base(), fineTune(false), MODULE)).toThrow('3 entries outside module "math" changed');
  });
});
