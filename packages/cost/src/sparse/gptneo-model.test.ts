// TODO: @modularevo/gptneo has no committed `architecture` export yet, so this test runs its
// model class directly. Once the export lands, architectures.test.ts covers the gpt_neo fixture,
// and this file can go.
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, type LinearFn } from '@modularevo/core-tensor';
import { modelFixturesOfType, readJsonFixture } from '@modularevo/test-support';

import { randomModule } from '../testing/architectures';
import { maskedDenseLinear } from './masked-dense';
import { buildSparsePlan } from './plan';
import { sparseLinear } from './sparse-linear';

interface GPTNeoLike {
  linearLayers(): import('@modularevo/core-tensor').LinearLayer[];
  parameter(name: string): tf.Variable;
  transformer(inputs: { inputIds: number[][]; attentionMask?: number[][] }, options: { linear?: LinearFn }): { lastHiddenState: tf.Tensor };
  lmHead(hidden: tf.Tensor, options: { linear?: LinearFn }): tf.Tensor;
}

const { GPTNeoForCausalLM } = require('@modularevo/gptneo') as { GPTNeoForCausalLM: { fromPretrained(dir: string): GPTNeoLike } };

beforeAll(async () => {
  await initBackend();
});

describe.each(modelFixturesOfType('gpt_neo'))('GPT-Neo model class on $name', ({ name, dir }) => {
  const reference = readJsonFixture<{ input_ids: number[][]; attention_mask: number[][] }>('models', name, 'reference.json');
  let model: GPTNeoLike;

  beforeAll(() => {
    model = GPTNeoForCausalLM.fromPretrained(dir);
  });

  const logits = (linear: LinearFn): Float32Array =>
    tf.tidy(() => {
      const inputs = { inputIds: reference.input_ids, attentionMask: reference.attention_mask };
      const hidden = model.transformer(inputs, { linear }).lastHiddenState; // [batch, seq, hidden]
      return model.lmHead(hidden, { linear }).dataSync() as Float32Array; // [batch, seq, vocab]
    });

  it.each([0.25, 0.5, 0.75])('sparse logits match the dense masked model at retention %s', (keep) => {
    const module = randomModule(model.linearLayers(), keep, Math.round(keep * 100));
    const dense = maskedDenseLinear(module);
    const expected = logits(dense.linear);
    const actual = logits(sparseLinear(buildSparsePlan(model, module)));
    dense.dispose();

    let worst = 0;
    for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(expected[i] - actual[i]));
    expect(actual.length).toBe(expected.length);
    expect(worst).toBeLessThan(1e-4);
  });
});
