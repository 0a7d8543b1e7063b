/**
 * Parity with Hugging Face `transformers` 4.36.2 on every RoBERTa model fixture, loaded from
 * each of its weight files. `reference.json` contains the inputs and `reference.safetensors` the
 * outputs (last hidden state, hidden states, pooler output, masked-LM logits).
 */
import * as fs from 'fs';
import * as path from 'path';

import * as tf from '@tensorflow/tfjs-core';

import { initBackend, type RawTensor } from '@modularevo/core-tensor';
import { modelFixturesOfType, temporaryDir } from '@modularevo/test-support';

import { copyWithWeights, readReference, values, worstMismatch, type RobertaReference } from '../test/reference';
import { architecture } from './architecture';
import { CodeBertModel } from './model';
import { maskedLMLoss } from './objective';

const OUTPUT_TOLERANCE = { abs: 1e-4, rel: 1e-4 };
const LOSS_TOLERANCE = 1e-5;
const WEIGHT_FILES = ['model.safetensors', 'pytorch_model.bin'];

const cases = modelFixturesOfType('roberta').flatMap(({ name, dir }) =>
  WEIGHT_FILES.map((weights) => {
    if (!fs.existsSync(path.join(dir, weights))) throw new Error(`Reference data not found: ${path.join(dir, weights)}`);
    return { name, dir, weights };
  }),
);

beforeAll(async () => {
  await initBackend();
});

/** Computes the output named like a reference array. */
function output(model: CodeBertModel, reference: RobertaReference, name: string): tf.Tensor {
  const inputs = { inputIds: reference.input_ids, attentionMask: reference.attention_mask };
  const { lastHiddenState, hiddenStates } = model.encode(inputs, { outputHiddenStates: true });
  switch (name) {
    case 'last_hidden_state':
      return lastHiddenState;
    case 'hidden_states':
      return tf.stack(hiddenStates!); // [layers + 1, batch, seq, hidden]
    case 'pooler_output':
      return model.pool(lastHiddenState);
    case 'logits':
      return model.lmHead(lastHiddenState);
    default:
      throw new Error(`No output of this package is named ${name}; add it to the parity test`);
  }
}

/**
 * Returns a test of whether flat index `i` of an array of shape `shape` lies on a real token.
 * Arrays of rank 3 or more end in `[batch, seq, width]` (hidden_states has a leading layer axis);
 * rank-2 arrays (`pooler_output`, `[batch, hidden]`) have one row per sequence and count whole.
 */
function realToken(reference: RobertaReference, shape: number[]): (i: number) => boolean {
  if (shape.length === 2) return () => true;
  const mask = reference.attention_mask.flat(); // [batch * seq]
  const width = shape[shape.length - 1];
  return (i) => mask[Math.floor(i / width) % mask.length] === 1;
}

describe.each(cases)('$name from $weights', ({ dir, weights }) => {
  let model: CodeBertModel;
  let reference: RobertaReference;
  let arrays: Map<string, RawTensor>;

  beforeAll(async () => {
    ({ reference, arrays } = readReference(dir));
    model = (await architecture.load(copyWithWeights(dir, temporaryDir(), weights))) as CodeBertModel;
  });

  afterAll(() => model.dispose());

  it('uses the fixture position ids', () => {
    const { checkInputs } = require('./inputs') as typeof import('./inputs');
    const checked = checkInputs({ inputIds: reference.input_ids }, model.config);
    expect(Array.from(checked.positionIds)).toEqual(reference.position_ids_used.flat());
  });

  it('matches every reference array', () => {
    expect(arrays.size).toBeGreaterThan(0);
    for (const [name, expected] of arrays) {
      const actual = tf.tidy(() => {
        const tensor = output(model, reference, name);
        return { shape: tensor.shape, data: tensor.dataSync() };
      });
      expect({ name, shape: actual.shape }).toEqual({ name, shape: expected.shape });
      const include = realToken(reference, expected.shape);
      expect({ name, mismatch: worstMismatch(actual.data, values(expected), OUTPUT_TOLERANCE, include) }).toEqual({ name, mismatch: undefined });
    }
  });

  it('matches the masked-LM loss', () => {
    if (reference.mlm_loss === undefined) {
      expect(model.hasLmHead).toBe(false);
      return;
    }
    const loss = tf.tidy(() =>
      maskedLMLoss(model, { inputIds: reference.input_ids, attentionMask: reference.attention_mask, labels: reference.mlm_labels! }).dataSync()[0],
    );
    expect(Math.abs(loss - reference.mlm_loss)).toBeLessThanOrEqual(LOSS_TOLERANCE);
  });

  it('keeps the checkpoint names', () => {
    const saved = [...model.stateDict().keys()];
    const stored = reference.checkpoint_keys['model.safetensors'];
    const pooler = model.freshPooler ? [model.names.body('pooler.dense.bias'), model.names.body('pooler.dense.weight')] : [];
    expect(saved.sort()).toEqual([...stored, ...pooler].sort());
  });
});
