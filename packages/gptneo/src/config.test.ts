import * as fs from 'fs';
import * as path from 'path';

import { CheckpointError } from '@modularevo/core-tensor';
import { modelFixturesOfType, temporaryDir } from '@modularevo/test-support';

import { expandAttentionTypes, gptNeoConfigToJson, loadGPTNeoConfig, parseGPTNeoConfig } from './config';

const fixtureDirs = modelFixturesOfType('gpt_neo').map(({ name, dir }) => [name, dir]);
const base = () => JSON.parse(fs.readFileSync(path.join(fixtureDirs[0][1], 'config.json'), 'utf8'));

describe.each(fixtureDirs)('config of %s', (_name, dir) => {
  it('loads with expanded attention layers', () => {
    const raw = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
    const config = loadGPTNeoConfig(dir);
    expect(config.attention_layers).toEqual(expandAttentionTypes(raw.attention_types));
    expect(config.attention_layers).toHaveLength(raw.num_layers);
    expect(config.intermediate_size).toBe(raw.intermediate_size ?? 4 * raw.hidden_size);
    expect(config.tie_word_embeddings).toBe(raw.tie_word_embeddings ?? true);
    expect(config.raw).toEqual(raw);
  });

  it('writes back unchanged, or with changes', () => {
    const raw = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
    const config = loadGPTNeoConfig(dir);
    expect(gptNeoConfigToJson(config)).toEqual(raw);
    expect(gptNeoConfigToJson({ ...config, window_size: 8, tie_word_embeddings: false })).toEqual({
      ...raw,
      window_size: 8,
      tie_word_embeddings: false,
    });
  });
});

describe('parseGPTNeoConfig', () => {
  it('expands repeated attention patterns', () => {
    expect(expandAttentionTypes([[['global', 'local'], 2], [['global'], 1]])).toEqual(['global', 'local', 'global', 'local', 'global']);
  });

  it('fills transformers defaults', () => {
    const raw = base();
    for (const key of ['window_size', 'activation_function', 'layer_norm_epsilon', 'intermediate_size', 'tie_word_embeddings']) {
      delete raw[key];
    }
    const config = parseGPTNeoConfig(raw);
    expect(config.window_size).toBe(256);
    expect(config.activation_function).toBe('gelu_new');
    expect(config.layer_norm_epsilon).toBe(1e-5);
    expect(config.intermediate_size).toBe(4 * raw.hidden_size);
    expect(config.tie_word_embeddings).toBe(true);
  });

  it.each(['vocab_size', 'max_position_embeddings', 'hidden_size', 'num_layers', 'num_heads'])(
    'rejects a config without %s',
    (key) => {
      const raw = base();
      delete raw[key];
      expect(() => parseGPTNeoConfig(raw, 'my/config.json')).toThrow(CheckpointError);
      expect(() => parseGPTNeoConfig(raw, 'my/config.json')).toThrow(`my/config.json: required key "${key}" is missing`);
    },
  );

  it('rejects a config without attention_types', () => {
    const raw = base();
    delete raw.attention_types;
    delete raw.attention_layers;
    expect(() => parseGPTNeoConfig(raw)).toThrow(/required key "attention_types" is missing/);
  });

  const invalid: [string, (raw: any) => void, RegExp][] = [
    ['another model type', (raw) => (raw.model_type = 'gpt2'), /model_type is "gpt2", expected "gpt_neo"/],
    ['heads not dividing hidden', (raw) => (raw.num_heads = 5), /hidden_size 32 is not divisible by num_heads 5/],
    ['layer count mismatch', (raw) => (raw.num_layers = 6), /expand to 4 layers but num_layers is 6/],
    ['unknown attention kind', (raw) => (raw.attention_types = [[['global', 'sparse'], 2]]), /contains "sparse"/],
    ['malformed attention_types', (raw) => (raw.attention_types = [['global', 2]]), /attention_types .* is invalid/],
    ['disagreeing attention_layers', (raw) => (raw.attention_layers = ['global', 'global', 'global', 'local']), /disagree/],
    ['unknown activation', (raw) => (raw.activation_function = 'swiglu'), /activation_function "swiglu" is not supported/],
    ['fractional size', (raw) => (raw.hidden_size = 32.5), /hidden_size must be a positive integer, got 32.5/],
    ['dropout of 1', (raw) => (raw.resid_dropout = 1), /resid_dropout must be a probability in \[0, 1\)/],
    ['non-boolean tie', (raw) => (raw.tie_word_embeddings = 'yes'), /tie_word_embeddings must be true or false/],
  ];

  it.each(invalid)('rejects %s', (_name, change, message) => {
    const raw = base();
    change(raw);
    expect(() => parseGPTNeoConfig(raw)).toThrow(message);
  });

  it('names the file that is not JSON', () => {
    const dir = temporaryDir();
    fs.writeFileSync(path.join(dir, 'config.json'), '{"vocab_size": ');
    expect(() => loadGPTNeoConfig(dir)).toThrow(`${path.join(dir, 'config.json')}: config is not valid JSON`);
  });

  it('names a missing config', () => {
    expect(() => loadGPTNeoConfig('/nonexistent/model')).toThrow(/\/nonexistent\/model\/config.json: cannot read config/);
  });
});
