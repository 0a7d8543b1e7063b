import * as tf from '@tensorflow/tfjs-core';
import { createRng, InvalidInputError, MismatchError, type LinearLayer, type StateDict } from '@modularevo/core-tensor';

import { maskedParameters, MaskScores } from './scores';
import { seededUniform } from './testing/model-fixture';
import { startBackend } from './testing/backend';

const LAYERS: LinearLayer[] = [
  { name: 'h.0.fc', weight: 'h.0.fc.weight', bias: 'h.0.fc.bias', inFeatures: 3, outFeatures: 2 },
  { name: 'lm_head', weight: 'lm_head.weight', inFeatures: 2, outFeatures: 5 },
];

beforeAll(async () => {
  await startBackend();
});

describe('maskedParameters', () => {
  it('lists weight then bias per layer', () => {
    expect(maskedParameters(LAYERS)).toEqual([
      { name: 'h.0.fc.weight', layer: 'h.0.fc', role: 'weight', shape: [2, 3] },
      { name: 'h.0.fc.bias', layer: 'h.0.fc', role: 'bias', shape: [2] },
      { name: 'lm_head.weight', layer: 'lm_head', role: 'weight', shape: [5, 2] },
    ]);
  });

  it('rejects a repeated parameter', () => {
    expect(() => maskedParameters([LAYERS[0], LAYERS[0]])).toThrow('Parameter "h.0.fc.weight" is listed twice');
  });

  it('rejects an empty layer list', () => {
    expect(() => maskedParameters([])).toThrow(InvalidInputError);
  });

  it('rejects non-integer sizes', () => {
    expect(() => maskedParameters([{ ...LAYERS[1], inFeatures: 2.5 }])).toThrow('Layer "lm_head" has invalid sizes inFeatures=2.5');
  });
});

describe('MaskScores.initialize', () => {
  async function initialValues(random: Parameters<typeof MaskScores.initialize>[1]): Promise<StateDict> {
    const scores = MaskScores.initialize(LAYERS, random);
    try {
      return await scores.read();
    } finally {
      scores.dispose();
    }
  }

  it('is reproducible for one seed', async () => {
    const first = await initialValues(seededUniform(11));
    const second = await initialValues(seededUniform(11));
    const other = await initialValues(seededUniform(12));
    for (const [name, tensor] of first) {
      expect(second.get(name)!.data).toEqual(tensor.data);
      expect(other.get(name)!.data).not.toEqual(tensor.data);
    }
  });

  it('draws on the 2^-24 grid in [0, 1)', async () => {
    for (const tensor of (await initialValues(seededUniform(3))).values()) {
      for (const value of tensor.data as Float32Array) {
        expect(value).toBeGreaterThanOrEqual(0);
        expect(value).toBeLessThan(1);
        expect(Number.isInteger(value * 2 ** 24)).toBe(true);
      }
    }
  });

  it('consumes the source in module order', async () => {
    let next = 0;
    const counting = () => (next++ % 1000) / 1000;
    const values = await initialValues(counting);
    expect(Array.from(values.get('h.0.fc.bias')!.data)).toEqual([6, 7].map((i) => Math.floor((i / 1000) * 2 ** 24) / 2 ** 24));
  });

  it('is reproducible with core-tensor Rng', async () => {
    const first = await initialValues(createRng(1203).fork('mask-init'));
    const second = await initialValues(createRng(1203).fork('mask-init'));
    const expected = createRng(1203).fork('mask-init').fillUniform(new Float32Array(6));
    expect(first.get('h.0.fc.weight')!.data).toEqual(expected);
    for (const [name, tensor] of first) expect(second.get(name)!.data).toEqual(tensor.data);
  });

  it('takes a generator that fills arrays', async () => {
    const filler = { fillUniform: (out: Float32Array) => out.fill(0.25) };
    for (const tensor of (await initialValues(filler)).values()) expect(Array.from(tensor.data).every((v) => v === 0.25)).toBe(true);
  });

  it('rejects draws outside [0, 1)', () => {
    expect(() => MaskScores.initialize(LAYERS, () => 1)).toThrow('Random source returned 1');
    expect(() => MaskScores.initialize(LAYERS, { fillUniform: (out: Float32Array) => out.fill(-0.5) })).toThrow(InvalidInputError);
  });
});

describe('MaskScores.fromValues', () => {
  function values(): StateDict {
    return new Map([
      ['h.0.fc.weight', { dtype: 'F32', shape: [2, 3], data: new Float32Array([1, -1, 0, 2, 0.5, -0.5]) }],
      ['h.0.fc.bias', { dtype: 'F32', shape: [2], data: new Float32Array([0.1, -0.1]) }],
      ['lm_head.weight', { dtype: 'F32', shape: [5, 2], data: new Float32Array(10).fill(0.5) }],
    ]);
  }

  it('keeps the given values', async () => {
    const scores = MaskScores.fromValues(LAYERS, values());
    try {
      expect((await scores.read()).get('h.0.fc.weight')!.data).toEqual(values().get('h.0.fc.weight')!.data);
      expect(scores.numEntries).toBe(18);
      expect(scores.variables().map((variable) => variable.shape)).toEqual([[2, 3], [2], [5, 2]]);
    } finally {
      scores.dispose();
    }
  });

  it('converts half-precision scores', async () => {
    const state = values();
    state.set('h.0.fc.bias', { dtype: 'BF16', shape: [2], data: new Uint16Array([0x3f80, 0xbf80]) }); // 1, -1
    const scores = MaskScores.fromValues(LAYERS, state);
    try {
      expect(Array.from((await scores.read()).get('h.0.fc.bias')!.data)).toEqual([1, -1]);
    } finally {
      scores.dispose();
    }
  });

  it('rejects a missing parameter', () => {
    const state = values();
    state.delete('h.0.fc.bias');
    expect(() => MaskScores.fromValues(LAYERS, state)).toThrow('No mask scores for parameter "h.0.fc.bias"');
  });

  it('rejects an unknown parameter', () => {
    const state = values();
    state.set('other.weight', { dtype: 'F32', shape: [1], data: new Float32Array(1) });
    expect(() => MaskScores.fromValues(LAYERS, state)).toThrow(MismatchError);
  });

  it('rejects another shape', () => {
    const state = values();
    state.set('h.0.fc.weight', { dtype: 'F32', shape: [3, 2], data: new Float32Array(6) });
    expect(() => MaskScores.fromValues(LAYERS, state)).toThrow('have shape [3, 2] but the parameter has shape [2, 3]');
  });

  it('keys gradients by parameter and by variable', () => {
    const scores = MaskScores.fromValues(LAYERS, values());
    try {
      const { grads, variableGrads } = scores.valueAndGrads(() => tf.sum(tf.mul(scores.get('h.0.fc.bias')!, 3)) as tf.Scalar);
      expect([...grads.keys()]).toEqual(['h.0.fc.weight', 'h.0.fc.bias', 'lm_head.weight']);
      expect(Array.from(grads.get('h.0.fc.bias')!.dataSync())).toEqual([3, 3]);
      expect(variableGrads[scores.get('h.0.fc.bias')!.name]).toBe(grads.get('h.0.fc.bias'));
    } finally {
      scores.dispose();
    }
  });

  it('dispose frees the variables', () => {
    const before = tf.memory().numTensors;
    MaskScores.fromValues(LAYERS, values()).dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
