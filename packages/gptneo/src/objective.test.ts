import * as tf from '@tensorflow/tfjs-core';

import { initBackend } from '@modularevo/core-tensor';
import { modelFixturesOfType, readJsonFixture } from '@modularevo/test-support';

import { worstMismatch } from '../test/helpers';
import { GPTNeoForCausalLM } from './model';
import { causalLMLabels, causalLMLoss, causalLMObjective, evaluatePerplexity, IGNORE_INDEX } from './objective';

const LOSS_TOLERANCE = 1e-5;

beforeAll(async () => {
  await initBackend();
});

describe.each(modelFixturesOfType('gpt_neo').map(({ name, dir }) => [name, dir]))('causal LM loss on %s', (name, dir) => {
  const reference = readJsonFixture('models', name, 'reference.json');
  const inputs = { inputIds: reference.input_ids, attentionMask: reference.attention_mask };
  let model: GPTNeoForCausalLM;

  beforeAll(() => {
    model = GPTNeoForCausalLM.fromPretrained(dir);
  });
  afterAll(() => model.dispose());

  it('builds labels with -100 at padding', () => {
    expect(causalLMLabels(reference.input_ids, reference.attention_mask)).toEqual(reference.labels);
  });

  it('matches loss with ignored padding', () => {
    const loss = tf.tidy(() => causalLMObjective(model, inputs).dataSync()[0]);
    expect(Math.abs(loss - reference.loss)).toBeLessThanOrEqual(LOSS_TOLERANCE);
  });

  it('matches loss with padding as targets', () => {
    const loss = tf.tidy(() => causalLMObjective(model, { ...inputs, labels: reference.input_ids }).dataSync()[0]);
    expect(Math.abs(loss - reference.loss_labels_equal_input_ids_including_pad)).toBeLessThanOrEqual(LOSS_TOLERANCE);
  });

  it('agrees with the loss on full logits', () => {
    const [fromLogits, objective] = tf.tidy(() => [
      causalLMLoss(model.forward(inputs).logits, reference.labels).dataSync()[0],
      causalLMObjective(model, inputs).dataSync()[0],
    ]);
    expect(Math.abs(fromLogits - objective)).toBeLessThanOrEqual(1e-6);
  });

  it('gives the same loss and gradients in chunks', () => {
    // 3 rows per chunk, so the 18 predicting rows of the fixture split into 6 chunks
    const chunked = { logitsChunkElements: 3 * model.config.vocab_size };
    const whole = tf.variableGrads(() => causalLMObjective(model, inputs));
    const inChunks = tf.variableGrads(() => causalLMObjective(model, inputs, chunked));
    expect(Math.abs(inChunks.value.dataSync()[0] - whole.value.dataSync()[0])).toBeLessThanOrEqual(1e-6);
    for (const [name, gradient] of Object.entries(whole.grads)) {
      const worst = worstMismatch(inChunks.grads[name].dataSync(), gradient.dataSync(), { abs: 1e-6, rel: 1e-4 });
      expect({ name, worst }).toEqual({ name, worst: undefined });
    }
    tf.dispose([whole.value, inChunks.value, ...Object.values(whole.grads), ...Object.values(inChunks.grads)]);
  });

  it('weighs perplexity batches by tokens', () => {
    const rows = reference.input_ids.map((ids: number[], b: number) => ({
      inputIds: [ids],
      attentionMask: [reference.attention_mask[b]],
    }));
    const result = evaluatePerplexity(model, rows);
    const targets = reference.labels.reduce(
      (count: number, row: number[]) => count + row.slice(1).filter((label) => label !== IGNORE_INDEX).length,
      0,
    );
    expect(result.tokens).toBe(targets);
    expect(Math.abs(result.loss - reference.loss)).toBeLessThanOrEqual(LOSS_TOLERANCE);
    expect(result.perplexity).toBe(Math.exp(result.loss));
  });
});

describe('causal LM loss edge cases', () => {
  const { dir } = modelFixturesOfType('gpt_neo')[0];
  let model: GPTNeoForCausalLM;

  beforeAll(() => {
    model = GPTNeoForCausalLM.fromPretrained(dir);
  });
  afterAll(() => model.dispose());

  it('gives 0 when every target is ignored', () => {
    const loss = tf.tidy(() => causalLMObjective(model, { inputIds: [[5, 6, 7]], attentionMask: [[1, 0, 0]] }).dataSync()[0]);
    expect(loss).toBe(0);
  });

  it('gives 0 for one-token sequences', () => {
    const loss = tf.tidy(() => causalLMObjective(model, { inputIds: [[5], [6]] }).dataSync()[0]);
    expect(loss).toBe(0);
  });

  it('rejects labels outside the vocabulary', () => {
    expect(() => tf.tidy(() => causalLMObjective(model, { inputIds: [[5, 6]], labels: [[5, 1000]] }))).toThrow(
      /Invalid label 1000: outside \[0, 1000\)/,
    );
  });

  it('rejects perplexity without targets', () => {
    expect(() => evaluatePerplexity(model, [{ inputIds: [[5]] }])).toThrow(/No target tokens/);
  });

  it('reaches every parameter with its gradient', () => {
    const { grads } = tf.variableGrads(() => causalLMObjective(model, { inputIds: [[5, 6, 7, 8, 9, 10]] }));
    for (const [name, variable] of model.params) {
      const grad = grads[variable.name];
      expect({ name, hasGradient: grad !== undefined }).toEqual({ name, hasGradient: true });
      expect({ name, nonZero: tf.any(tf.notEqual(grad!, 0)).dataSync()[0] }).toEqual({ name, nonZero: 1 });
    }
    tf.dispose(grads);
  });
});
