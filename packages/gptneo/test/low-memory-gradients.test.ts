import * as tf from '@tensorflow/tfjs-core';

import { initBackend } from '@modularevo/core-tensor';
import { modelFixturesOfType } from '@modularevo/test-support';

import { lowMemoryVariableGrads } from '../bench/low-memory-gradients';
import { GPTNeoForCausalLM } from '../src/model';
import { causalLMObjective } from '../src/objective';
import { worstMismatch } from './helpers';

beforeAll(async () => {
  await initBackend();
});

describe('lowMemoryVariableGrads', () => {
  it('matches tf.variableGrads without leaking', () => {
    const model = GPTNeoForCausalLM.fromPretrained(modelFixturesOfType('gpt_neo')[0].dir);
    const batch = {
      inputIds: [
        [5, 6, 7, 8, 9, 10, 11],
        [1, 2, 3, 4, 999, 999, 999],
      ],
      attentionMask: [
        [1, 1, 1, 1, 1, 1, 1],
        [1, 1, 1, 1, 0, 0, 0],
      ],
    };
    const loss = () => causalLMObjective(model, batch, { logitsChunkElements: 3 * model.config.vocab_size });

    const reference = tf.variableGrads(loss);
    const tensorsBefore = tf.memory().numTensors;
    const lean = lowMemoryVariableGrads(loss);
    const created = tf.memory().numTensors - tensorsBefore;

    expect(lean.value.dataSync()[0]).toBe(reference.value.dataSync()[0]);
    expect(Object.keys(lean.grads).sort()).toEqual(Object.keys(reference.grads).sort());
    for (const [name, gradient] of Object.entries(reference.grads)) {
      const worst = worstMismatch(lean.grads[name].dataSync(), gradient.dataSync(), { abs: 1e-6, rel: 1e-5 });
      expect({ name, worst }).toEqual({ name, worst: undefined });
    }
    // only the value and one gradient per variable remain
    expect(created).toBe(1 + Object.keys(reference.grads).length);

    tf.dispose([reference.value, lean.value, ...Object.values(reference.grads), ...Object.values(lean.grads)]);
    model.dispose();
  });
});
