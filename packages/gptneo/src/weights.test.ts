import * as fs from 'fs';
import * as path from 'path';

import * as tf from '@tensorflow/tfjs-core';

import {
  CheckpointError,
  initBackend,
  loadSafetensors,
  MismatchError,
  saveSafetensors,
  type StateDict,
} from '@modularevo/core-tensor';
import { modelFixturesOfType, readJsonFixture, temporaryDir } from '@modularevo/test-support';

import { copyModelFolder, seededUniform } from '../test/helpers';
import { loadGPTNeoConfig } from './config';
import { tokenizerVocabularySize } from './folder';
import { GPTNeoForCausalLM } from './model';
import { gptNeoParameterShapes } from './weights';

const fixtures = modelFixturesOfType('gpt_neo').map(({ name, dir }) => [name, dir]);

beforeAll(async () => {
  await initBackend();
});

// Copies a fixture folder and rewrites its model.safetensors with `change` applied to the state.
function folderWithState(dir: string, change: (state: StateDict) => void): string {
  const copy = copyModelFolder(dir, path.join(temporaryDir(), 'model'));
  const state = loadSafetensors(path.join(dir, 'model.safetensors'));
  change(state);
  fs.rmSync(path.join(copy, 'model.safetensors'));
  saveSafetensors(path.join(copy, 'model.safetensors'), state, { format: 'pt' });
  return copy;
}

function thrown(f: () => unknown): Error {
  try {
    f();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected an error');
}

describe.each(fixtures)('weights of %s', (name, dir) => {
  it('names every stored parameter', () => {
    const reference = readJsonFixture('models', name, 'reference.json');
    const expected = [...gptNeoParameterShapes(loadGPTNeoConfig(dir)).keys()].sort();
    expect(expected).toEqual([...reference.checkpoint_keys['model.safetensors']].sort());
  });

  it('saves a byte-identical model.safetensors', async () => {
    const model = GPTNeoForCausalLM.fromPretrained(dir);
    const out = path.join(temporaryDir(), 'saved');
    try {
      await model.savePretrained(out);
    } finally {
      model.dispose();
    }
    const written = fs.readFileSync(path.join(out, 'model.safetensors'));
    expect(Buffer.compare(written, fs.readFileSync(path.join(dir, 'model.safetensors')))).toBe(0);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'))).toEqual(
      JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')),
    );
    expect(fs.existsSync(path.join(out, 'vocab.json'))).toBe(true);
  });

  it('loads keys saved under a base_model prefix', () => {
    const copy = folderWithState(dir, (state) => {
      for (const [key, tensor] of [...state]) {
        state.delete(key);
        state.set(`base_model.${key}`, tensor);
      }
    });
    const original = GPTNeoForCausalLM.fromPretrained(dir);
    const prefixed = GPTNeoForCausalLM.fromPretrained(copy);
    try {
      for (const [key, variable] of original.params) {
        expect(Array.from(prefixed.parameter(key).dataSync())).toEqual(Array.from(variable.dataSync()));
      }
    } finally {
      original.dispose();
      prefixed.dispose();
    }
  });

  it('names a missing tensor', () => {
    const copy = folderWithState(dir, (state) => state.delete('transformer.h.1.mlp.c_fc.bias'));
    const error = thrown(() => GPTNeoForCausalLM.fromPretrained(copy));
    expect(error).toBeInstanceOf(CheckpointError);
    expect(error.message).toContain(path.join(copy, 'model.safetensors'));
    expect(error.message).toMatch(/tensor "transformer.h.1.mlp.c_fc.bias" is missing/);
  });

  it('names a tensor with the wrong shape and both shapes', () => {
    const copy = folderWithState(dir, (state) => {
      const bias = state.get('transformer.h.0.attn.attention.out_proj.bias')!;
      state.set('transformer.h.0.attn.attention.out_proj.bias', { ...bias, shape: [2, bias.shape[0] / 2] });
    });
    const error = thrown(() => GPTNeoForCausalLM.fromPretrained(copy));
    expect(error).toBeInstanceOf(CheckpointError);
    expect(error.message).toMatch(/"transformer.h.0.attn.attention.out_proj.bias" has shape \[2, 16\] but config.json implies \[32\]/);
  });

  it('rejects non-finite weights', () => {
    const copy = folderWithState(dir, (state) => {
      (state.get('transformer.ln_f.weight')!.data as Float32Array)[3] = NaN;
    });
    expect(() => GPTNeoForCausalLM.fromPretrained(copy)).toThrow(/"transformer.ln_f.weight" contains a non-finite value \(NaN\) at index 3/);
  });

  it('rejects a tokenizer larger than the vocabulary', () => {
    const copy = copyModelFolder(dir, path.join(temporaryDir(), 'model'));
    const vocab = JSON.parse(fs.readFileSync(path.join(copy, 'vocab.json'), 'utf8'));
    const size = loadGPTNeoConfig(dir).vocab_size;
    vocab['<extra>'] = size;
    fs.writeFileSync(path.join(copy, 'vocab.json'), JSON.stringify(vocab));

    const error = thrown(() => GPTNeoForCausalLM.fromPretrained(copy));
    expect(error).toBeInstanceOf(MismatchError);
    expect(error.message).toMatch(new RegExp(`produces ids up to ${size} but the model's vocab_size is ${size}`));
  });

  it('reads the tokenizer size', () => {
    expect(tokenizerVocabularySize(dir)).toBe(loadGPTNeoConfig(dir).vocab_size);
  });
});

describe('untied lm_head', () => {
  it('keeps its own weight through save and load', async () => {
    const config = { ...loadGPTNeoConfig(fixtures[0][1]), tie_word_embeddings: false };
    const model = GPTNeoForCausalLM.fromConfig(config, seededUniform(2));
    const out = path.join(temporaryDir(), 'untied');
    try {
      expect(model.parameter('lm_head.weight')).not.toBe(model.parameter('transformer.wte.weight'));
      await model.savePretrained(out, { tokenizerFrom: fixtures[0][1] });
    } finally {
      model.dispose();
    }

    const state = loadSafetensors(path.join(out, 'model.safetensors'));
    expect(state.has('lm_head.weight')).toBe(true);
    const loaded = GPTNeoForCausalLM.fromPretrained(out);
    try {
      expect(loaded.config.tie_word_embeddings).toBe(false);
      expect(Array.from(loaded.parameter('lm_head.weight').dataSync())).toEqual(Array.from(state.get('lm_head.weight')!.data as Float32Array));
    } finally {
      loaded.dispose();
    }
  });
});

describe('initialised weights', () => {
  it('follows the transformers init', () => {
    const config = loadGPTNeoConfig(fixtures[0][1]);
    const model = GPTNeoForCausalLM.fromConfig({ ...config, initializer_range: 0.5 }, seededUniform(1));
    try {
      expect([...model.params.keys()]).toEqual([...gptNeoParameterShapes(config).keys()]);
      const values = (name: string) => Array.from(model.parameter(name).dataSync());
      expect(values('transformer.h.0.ln_1.weight').every((v) => v === 1)).toBe(true);
      expect(values('transformer.h.0.mlp.c_fc.bias').every((v) => v === 0)).toBe(true);

      const weights = values('transformer.wte.weight');
      const mean = weights.reduce((a, b) => a + b, 0) / weights.length;
      const std = Math.sqrt(weights.reduce((a, b) => a + (b - mean) ** 2, 0) / weights.length);
      expect(Math.abs(mean)).toBeLessThan(0.01);
      expect(Math.abs(std - 0.5)).toBeLessThan(0.01);
      tf.tidy(() => expect(model.forward({ inputIds: [[1, 2, 3]] }).logits.shape).toEqual([1, 3, config.vocab_size]));
    } finally {
      model.dispose();
    }
  });
});
