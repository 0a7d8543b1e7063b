import * as fs from 'fs';
import * as path from 'path';

import { CheckpointError } from '@modularevo/core-tensor';
import { modelFixturesOfType, temporaryDir } from '@modularevo/test-support';

import { loadT5Config, parseT5Config, t5ConfigToJson } from './config';

describe.each(modelFixturesOfType('t5').map(({ name, dir }) => [name, dir] as const))('T5 config of fixture %s', (_name, dir) => {
  it('reads every key and the defaults', () => {
    const { config, json } = loadT5Config(dir);
    for (const key of ['vocab_size', 'd_model', 'd_kv', 'd_ff', 'num_layers', 'num_heads', 'layer_norm_epsilon', 'pad_token_id']) {
      expect(config[key as keyof typeof config]).toBe(json[key]);
    }
    expect(config.num_decoder_layers).toBe(json.num_decoder_layers ?? json.num_layers);
    expect(config.tie_word_embeddings).toBe(json.tie_word_embeddings ?? true);
    expect(config.decoder_start_token_id).toBe(json.decoder_start_token_id);
  });

  it('writes back the keys it did not parse', () => {
    const { config, json } = loadT5Config(dir);
    const written = t5ConfigToJson(config, { ...json, custom_key: 'kept' });
    expect(written.custom_key).toBe('kept');
    expect(parseT5Config(written, 'written.json')).toEqual(config);
  });
});

describe('T5 config defaults and activations', () => {
  it('fills T5Config defaults', () => {
    const config = parseT5Config({ model_type: 't5' }, 'config.json');
    expect(config).toMatchObject({
      vocab_size: 32128,
      d_model: 512,
      d_kv: 64,
      d_ff: 2048,
      num_layers: 6,
      num_decoder_layers: 6,
      num_heads: 8,
      relative_attention_num_buckets: 32,
      relative_attention_max_distance: 128,
      feed_forward_proj: 'relu',
      dense_act_fn: 'relu',
      is_gated_act: false,
      tie_word_embeddings: true,
      pad_token_id: 0,
      eos_token_id: 1,
    });
    expect(config.decoder_start_token_id).toBeUndefined();
  });

  it.each([
    ['relu', 'relu', false],
    ['gated-gelu', 'gelu_new', true],
    ['gated-silu', 'silu', true],
    ['gelu', 'gelu', false],
  ])('feed_forward_proj %s gives %s', (value, act, gated) => {
    const config = parseT5Config({ model_type: 't5', feed_forward_proj: value }, 'config.json');
    expect(config.dense_act_fn).toBe(act);
    expect(config.is_gated_act).toBe(gated);
  });
});

describe('T5 config bad input', () => {
  const cases: [string, unknown, RegExp][] = [
    ['not an object', [1, 2], /not a JSON object/],
    ['other model type', { model_type: 'gpt_neo' }, /model_type is "gpt_neo"/],
    ['zero d_model', { model_type: 't5', d_model: 0 }, /"d_model" must be a positive integer, not 0/],
    ['string size', { model_type: 't5', num_heads: '8' }, /"num_heads" must be a finite number/],
    ['fractional layers', { model_type: 't5', num_layers: 2.5 }, /"num_layers" must be a positive integer/],
    ['dropout of 1', { model_type: 't5', dropout_rate: 1 }, /"dropout_rate" must be in \[0, 1\)/],
    ['too few buckets', { model_type: 't5', relative_attention_num_buckets: 2 }, /at least 4/],
    ['malformed projection', { model_type: 't5', feed_forward_proj: 'double-relu' }, /not of the form/],
    ['unknown activation', { model_type: 't5', feed_forward_proj: 'gated-mish' }, /activation "mish" is not supported/],
    ['pad id out of range', { model_type: 't5', vocab_size: 10, pad_token_id: 10 }, /"pad_token_id" must be a token id in \[0, 10\)/],
    ['empty eos list', { model_type: 't5', eos_token_id: [] }, /"eos_token_id"/],
    ['tie flag as string', { model_type: 't5', tie_word_embeddings: 'yes' }, /"tie_word_embeddings" must be true or false/],
  ];
  it.each(cases)('%s gives a clear error', (_name, raw, pattern) => {
    expect(() => parseT5Config(raw, '/models/x/config.json')).toThrow(CheckpointError);
    expect(() => parseT5Config(raw, '/models/x/config.json')).toThrow(pattern);
    expect(() => parseT5Config(raw, '/models/x/config.json')).toThrow(/^\/models\/x\/config.json: /);
  });

  it('names a missing config file', () => {
    const dir = temporaryDir();
    expect(() => loadT5Config(dir)).toThrow(new RegExp(`${path.join(dir, 'config.json')}: cannot read config`));
  });

  it('names a config that is not JSON', () => {
    const dir = temporaryDir();
    fs.writeFileSync(path.join(dir, 'config.json'), '{"model_type": "t5",');
    expect(() => loadT5Config(dir)).toThrow(/config is not valid JSON/);
  });
});
