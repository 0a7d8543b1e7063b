import * as fs from 'fs';
import * as path from 'path';

import * as tf from '@tensorflow/tfjs-core';

import { InvalidInputError, MismatchError, initBackend, type LinearFn } from '@modularevo/core-tensor';
import { modelFixturesOfType, readJsonFixture, temporaryDir } from '@modularevo/test-support';

import { HIDDEN_TOLERANCE, readReferenceArrays, worstExcess, type T5Reference } from '../test/reference';
import { parseT5Config } from './config';
import { randomT5Weights } from './init';
import { denseLinear } from './layers';
import { T5ForConditionalGeneration } from './model';

const fixtures = modelFixturesOfType('t5').map(({ name, dir }) => [name, dir] as const);

/** Every weights file of every fixture, each in a folder of its own with the fixture's config. */
const weightFolders = fixtures.flatMap(([name, dir]) =>
  ['model.safetensors', 'pytorch_model.bin']
    .filter((file) => fs.existsSync(path.join(dir, file)))
    .map((file) => {
      const folder = temporaryDir();
      for (const linked of ['config.json', file]) fs.symlinkSync(path.join(dir, linked), path.join(folder, linked));
      return [name, file, dir, folder] as const;
    }),
);

beforeAll(async () => {
  await initBackend();
});

describe.each(weightFolders)('T5 parity with transformers (%s, %s)', (name, _file, dir, folder) => {
  const reference = readJsonFixture<T5Reference>('models', name, 'reference.json');
  const arrays = readReferenceArrays(dir);
  let model: T5ForConditionalGeneration;

  beforeAll(() => {
    model = T5ForConditionalGeneration.fromPretrained(folder);
  });
  afterAll(() => model.dispose());

  it('matches encoder, decoder and logits', () => {
    const inputIds = tf.tensor2d(reference.input_ids, undefined, 'int32');
    const attentionMask = tf.tensor2d(reference.attention_mask, undefined, 'int32');
    const decoderInputIds = tf.tensor2d(reference.decoder_input_ids, undefined, 'int32');
    const out = model.forward({ inputIds, attentionMask, decoderInputIds });

    const encoder = arrays.get('encoder_last_hidden_state')!;
    expect(out.encoderLastHiddenState.shape).toEqual(encoder.shape);
    const hiddenSize = encoder.shape[2];
    const realPositions = reference.attention_mask.flat();
    expect(worstExcess(out.encoderLastHiddenState.dataSync(), encoder.data, HIDDEN_TOLERANCE, hiddenSize, realPositions)).toBeLessThanOrEqual(0);

    const decoder = arrays.get('decoder_last_hidden_state')!;
    expect(out.decoderLastHiddenState.shape).toEqual(decoder.shape);
    expect(worstExcess(out.decoderLastHiddenState.dataSync(), decoder.data, HIDDEN_TOLERANCE)).toBeLessThanOrEqual(0);

    const logits = arrays.get('logits')!;
    expect(out.logits.shape).toEqual(logits.shape);
    expect(worstExcess(out.logits.dataSync(), logits.data, HIDDEN_TOLERANCE)).toBeLessThanOrEqual(0);
    expect(out.loss).toBeUndefined();
    tf.dispose([inputIds, attentionMask, decoderInputIds, ...Object.values(out)]);
  });

  it('matches labels loss, shift_right and logits', () => {
    const { labels, decoder_input_ids_from_shift_right: shifted, loss } = reference.labels_case;
    const labelTensor = tf.tensor2d(labels, undefined, 'int32');
    const shiftedIds = model.shiftRight(labelTensor);
    expect(shiftedIds.arraySync()).toEqual(shifted);

    const inputIds = tf.tensor2d(reference.input_ids, undefined, 'int32');
    const attentionMask = tf.tensor2d(reference.attention_mask, undefined, 'int32');
    const out = model.forward({ inputIds, attentionMask, labels: labelTensor });
    expect(Math.abs(out.loss!.dataSync()[0] - loss)).toBeLessThanOrEqual(1e-5);

    const logits = arrays.get('labels_case.logits')!;
    expect(out.logits.shape).toEqual(logits.shape);
    expect(worstExcess(out.logits.dataSync(), logits.data, HIDDEN_TOLERANCE)).toBeLessThanOrEqual(0);
    tf.dispose([labelTensor, shiftedIds, inputIds, attentionMask, ...Object.values(out)]);
  });

  it('routes every linear layer through the LinearFn', () => {
    const used = new Set<string>();
    const counting: LinearFn = (layer, x, weight, bias) => {
      used.add(layer.name);
      return denseLinear(layer, x, weight, bias);
    };
    const inputIds = tf.tensor2d(reference.input_ids, undefined, 'int32');
    const decoderInputIds = tf.tensor2d(reference.decoder_input_ids, undefined, 'int32');
    const out = model.forward({ inputIds, decoderInputIds }, { linear: counting });

    expect([...used].sort()).toEqual(model.linearLayers().map((layer) => layer.name).sort());
    tf.dispose([inputIds, decoderInputIds, ...Object.values(out)]);
  });

  it('uses the LinearFn result for the logits', () => {
    const zeroHead: LinearFn = (layer, x, weight, bias) => {
      const y = denseLinear(layer, x, weight, bias);
      return layer.name === 'lm_head' ? tf.zerosLike(y) : y;
    };
    const inputIds = tf.tensor2d(reference.input_ids, undefined, 'int32');
    const decoderInputIds = tf.tensor2d(reference.decoder_input_ids, undefined, 'int32');
    const out = model.forward({ inputIds, decoderInputIds }, { linear: zeroHead });

    expect(tf.max(tf.abs(out.logits)).dataSync()[0]).toBe(0);
    tf.dispose([inputIds, decoderInputIds, ...Object.values(out)]);
  });
});

describe('T5 linear layers', () => {
  const config = parseT5Config(
    { model_type: 't5', vocab_size: 50, d_model: 8, d_kv: 3, num_heads: 2, d_ff: 12, num_layers: 2, num_decoder_layers: 1, feed_forward_proj: 'gated-gelu' },
    'config.json',
  );

  it('lists attention, feed-forward and lm_head with shapes', () => {
    const model = T5ForConditionalGeneration.fromStateDict(config, randomT5Weights(config, 1));
    const layers = model.linearLayers();

    // 2 encoder blocks * (4 attention + 3 gated feed-forward) + 1 decoder block * (8 + 3) + lm_head
    expect(layers).toHaveLength(2 * 7 + 11 + 1);
    expect(layers.find((layer) => layer.name === 'encoder.block.0.layer.0.SelfAttention.q')).toEqual({
      name: 'encoder.block.0.layer.0.SelfAttention.q',
      weight: 'encoder.block.0.layer.0.SelfAttention.q.weight',
      inFeatures: 8,
      outFeatures: 6,
    });
    expect(layers.find((layer) => layer.name === 'decoder.block.0.layer.2.DenseReluDense.wi_1')?.outFeatures).toBe(12);
    expect(layers[layers.length - 1]).toEqual({ name: 'lm_head', weight: 'lm_head.weight', inFeatures: 8, outFeatures: 50 });

    // every weight resolves to a parameter of the stated [out, in] shape
    for (const layer of layers) expect(model.parameter(layer.weight).shape).toEqual([layer.outFeatures, layer.inFeatures]);
    expect(model.parameter('lm_head.weight')).toBe(model.parameter('shared.weight'));
    model.dispose();
  });

  it('decodes step by step as in one pass', () => {
    const model = T5ForConditionalGeneration.fromStateDict(config, randomT5Weights(config, 2));
    const inputIds = tf.tensor2d([[5, 6, 7, 8], [9, 10, 0, 0]], undefined, 'int32');
    const attentionMask = tf.tensor2d([[1, 1, 1, 1], [1, 1, 0, 0]], undefined, 'int32');
    const decoderIds = [[0, 3, 4, 5, 6], [0, 7, 7, 1, 2]];
    const full = model.forward({ inputIds, attentionMask, decoderInputIds: tf.tensor2d(decoderIds, undefined, 'int32') });
    const fullLogits = full.logits.arraySync();

    const encoded = model.encode(inputIds, attentionMask);
    const state = model.startDecoding(encoded, attentionMask);
    for (let step = 0; step < decoderIds[0].length; step++) {
      const logits = model.decodeStep(state, Int32Array.from(decoderIds.map((row) => row[step])));
      const rows = logits.arraySync();
      for (let b = 0; b < rows.length; b++) {
        expect(worstExcess(rows[b], fullLogits[b][step], { abs: 1e-5, rel: 1e-5 })).toBeLessThanOrEqual(0);
      }
      logits.dispose();
    }
    model.disposeDecoding(state);
    model.dispose();
    tf.dispose([inputIds, attentionMask, encoded, ...Object.values(full)]);
  });

  it('rejects a state dict with wrong shapes', () => {
    const state = randomT5Weights(config, 5);
    state.set('decoder.final_layer_norm.weight', { dtype: 'F32', shape: [7], data: new Float32Array(7) });
    expect(() => T5ForConditionalGeneration.fromStateDict(config, state)).toThrow(MismatchError);
    expect(() => T5ForConditionalGeneration.fromStateDict(config, state)).toThrow(/"decoder.final_layer_norm.weight" has shape \[7\] but the config needs \[8\]/);
  });

  it('gives untied heads their own weight without rescale', () => {
    const untied = { ...config, tie_word_embeddings: false };
    const model = T5ForConditionalGeneration.fromStateDict(untied, randomT5Weights(untied, 3));
    expect(model.parameter('lm_head.weight')).not.toBe(model.parameter('shared.weight'));

    const inputIds = tf.tensor2d([[5, 6]], undefined, 'int32');
    const out = model.forward({ inputIds, decoderInputIds: tf.tensor2d([[0]], undefined, 'int32') });
    const expected = tf.matMul(tf.reshape(out.decoderLastHiddenState, [1, 8]), model.parameter('lm_head.weight'), false, true);
    expect(worstExcess(out.logits.dataSync(), expected.dataSync(), { abs: 1e-6, rel: 1e-6 })).toBeLessThanOrEqual(0);
    model.dispose();
    tf.dispose([inputIds, expected, ...Object.values(out)]);
  });
});

describe('T5 forward bad input', () => {
  const config = parseT5Config({ model_type: 't5', vocab_size: 20, d_model: 4, d_kv: 2, num_heads: 2, d_ff: 6, num_layers: 1 }, 'config.json');
  let model: T5ForConditionalGeneration;
  beforeAll(() => {
    model = T5ForConditionalGeneration.fromStateDict({ ...config, decoder_start_token_id: undefined }, randomT5Weights(config, 4));
  });
  afterAll(() => model.dispose());

  const ids = (rows: number[][], dtype: 'int32' | 'float32' = 'int32') => tf.tensor2d(rows, undefined, dtype);
  const cases: [string, () => unknown, RegExp][] = [
    ['id out of range', () => model.forward({ inputIds: ids([[1, 20]]), decoderInputIds: ids([[0]]) }), /inputIds\[0\]\[1\] is 20/],
    ['negative decoder id', () => model.forward({ inputIds: ids([[1]]), decoderInputIds: ids([[-1]]) }), /decoderInputIds\[0\]\[0\] is -1/],
    ['float ids', () => model.forward({ inputIds: ids([[1]], 'float32'), decoderInputIds: ids([[0]]) }), /int32/],
    ['empty source', () => model.encode(tf.zeros([1, 0], 'int32') as tf.Tensor2D), /empty/],
    ['mask shape', () => model.encode(ids([[1, 2]]), ids([[1]])), /attentionMask has shape \[1, 1\]/],
    ['mask values', () => model.encode(ids([[1, 2]]), ids([[1, 2]])), /only 0 and 1/],
    ['no decoder input', () => model.forward({ inputIds: ids([[1]]) }), /decoderInputIds or labels/],
    ['all labels ignored', () => model.forward({ inputIds: ids([[1]]), labels: ids([[-100, -100]]) }), /only -100/],
    ['labels without start id', () => model.forward({ inputIds: ids([[1]]), labels: ids([[3]]) }), /decoder_start_token_id/],
  ];
  it.each(cases)('%s gives a clear error', (_name, run, pattern) => {
    expect(run).toThrow(InvalidInputError);
    expect(run).toThrow(pattern);
  });
});
