import * as fs from 'fs';
import * as path from 'path';

import * as tf from '@tensorflow/tfjs-core';

import {
  CheckpointError,
  InvalidInputError,
  MismatchError,
  initBackend,
  loadSafetensors,
  saveSafetensors,
  type StateDict,
} from '@modularevo/core-tensor';
import { modelFixturesOfType, readJsonFixture, temporaryDir } from '@modularevo/test-support';

import type { T5Reference } from '../test/reference';
import { loadT5Config } from './config';
import { T5ForConditionalGeneration } from './model';
import { loadT5Weights, saveT5Folder, t5ParameterSpecs, t5WeightAliases } from './weights';

const fixtures = modelFixturesOfType('t5').map(({ name, dir }) => [name, dir] as const);

beforeAll(async () => {
  await initBackend();
});

/** Writes a model folder with the fixture's config (optionally edited) and an edited copy of its weights. */
function writeVariant(dir: string, editWeights: (state: StateDict) => void, editConfig: (json: Record<string, unknown>) => void = () => {}): string {
  const out = temporaryDir();
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  editConfig(json);
  fs.writeFileSync(path.join(out, 'config.json'), JSON.stringify(json));
  const state = loadSafetensors(path.join(dir, 'model.safetensors'));
  editWeights(state);
  saveSafetensors(path.join(out, 'model.safetensors'), state, { format: 'pt' });
  return out;
}

function copyOf(state: StateDict, name: string) {
  const tensor = state.get(name)!;
  return { dtype: tensor.dtype, shape: [...tensor.shape], data: (tensor.data as Float32Array).slice() };
}

/** Loads `dir` and returns the thrown error (or undefined). */
function loadError(dir: string): Error | undefined {
  try {
    loadT5Weights(dir, loadT5Config(dir).config);
  } catch (error) {
    return error as Error;
  }
  return undefined;
}

describe.each(fixtures)('T5 weights of fixture %s', (name, dir) => {
  const reference = readJsonFixture<T5Reference>('models', name, 'reference.json');
  const { config } = loadT5Config(dir);
  const plain = loadT5Weights(dir, config);

  it('lists exactly the keys save_pretrained writes', () => {
    const names = t5ParameterSpecs(config).map((spec) => spec.name);
    expect([...names].sort()).toEqual([...reference.checkpoint_keys['model.safetensors']].sort());
    expect([...plain.keys()].sort()).toEqual([...names].sort());
  });

  it('lists the tied duplicates as aliases', () => {
    const written = new Set(reference.checkpoint_keys['model.safetensors']);
    const duplicates = reference.checkpoint_keys['pytorch_model.bin'].filter((key) => !written.has(key));
    expect(t5WeightAliases(config).map((alias) => alias.alias).sort()).toEqual(duplicates.sort());
  });

  it('accepts every alias present and equal', () => {
    const variant = writeVariant(dir, (state) => {
      for (const alias of t5WeightAliases(config)) state.set(alias.alias, copyOf(state, alias.target));
    });
    const state = loadT5Weights(variant, config);
    expect([...state.keys()].sort()).toEqual([...plain.keys()].sort());
    expect(state.get('shared.weight')!.data).toEqual(plain.get('shared.weight')!.data);
  });

  it('reads the embedding from an alias when shared.weight is absent', () => {
    const variant = writeVariant(dir, (state) => {
      state.set('encoder.embed_tokens.weight', copyOf(state, 'shared.weight'));
      state.delete('shared.weight');
    });
    expect(loadT5Weights(variant, config).get('shared.weight')!.data).toEqual(plain.get('shared.weight')!.data);
  });

  it('rejects an alias with another shape', () => {
    const variant = writeVariant(dir, (state) => {
      const shared = state.get('shared.weight')!;
      const [rows, columns] = shared.shape;
      state.set('encoder.embed_tokens.weight', { dtype: 'F32', shape: [rows - 1, columns], data: (shared.data as Float32Array).slice(columns) });
    });
    const error = loadError(variant);
    const [rows, columns] = plain.get('shared.weight')!.shape;
    expect(error).toBeInstanceOf(CheckpointError);
    expect(error!.message).toContain(path.join(variant, 'model.safetensors'));
    expect(error!.message).toContain(`"encoder.embed_tokens.weight" [${rows - 1}, ${columns}]`);
    expect(error!.message).toContain(`"shared.weight" [${rows}, ${columns}]`);
  });

  it('rejects a tied head with other values', () => {
    const variant = writeVariant(dir, (state) => {
      const head = copyOf(state, 'shared.weight');
      head.data[5] += 1;
      state.set('lm_head.weight', head);
    });
    const error = loadError(variant);
    expect(error).toBeInstanceOf(CheckpointError);
    expect(error!.message).toMatch(/"lm_head.weight" \(LM head\) differs from "shared.weight" at element 5 .* although tie_word_embeddings is true/);
    expect(error!.message).toMatch(/tie_word_embeddings": false/);
  });

  it('requires lm_head.weight when untied', () => {
    const variant = writeVariant(dir, () => {}, (json) => (json.tie_word_embeddings = false));
    expect(loadError(variant)?.message).toMatch(/parameter "lm_head.weight" \[\d+, \d+\] not found.*tie_word_embeddings to false/);
  });

  it('loads and saves an untied head as its own parameter', async () => {
    const variant = writeVariant(
      dir,
      (state) => {
        const head = copyOf(state, 'shared.weight');
        head.data[0] += 1;
        state.set('lm_head.weight', head);
      },
      (json) => (json.tie_word_embeddings = false),
    );
    const model = T5ForConditionalGeneration.fromPretrained(variant);
    expect(model.parameter('lm_head.weight').dataSync()[0]).toBe(model.parameter('shared.weight').dataSync()[0] + 1);

    const out = path.join(temporaryDir(), 'saved');
    await model.save(out);
    expect(loadSafetensors(path.join(out, 'model.safetensors')).has('lm_head.weight')).toBe(true);
    model.dispose();
  });

  const broken: [string, (state: StateDict) => void, RegExp][] = [
    ['missing block weight', (state) => state.delete('decoder.block.1.layer.2.DenseReluDense.wo.weight'), /parameter "decoder.block.1.layer.2.DenseReluDense.wo.weight" \[\d+, \d+\] not found/],
    ['missing embedding', (state) => state.delete('shared.weight'), /"shared.weight" or "encoder.embed_tokens.weight" or "decoder.embed_tokens.weight"/],
    [
      'wrong shape',
      (state) => state.set('encoder.final_layer_norm.weight', { dtype: 'F32', shape: [3], data: new Float32Array(3) }),
      /tensor "encoder.final_layer_norm.weight" has shape \[3\] but config.json needs \[\d+\]/,
    ],
    [
      'integer dtype',
      (state) => {
        const norm = state.get('encoder.final_layer_norm.weight')!;
        state.set('encoder.final_layer_norm.weight', { dtype: 'I32', shape: norm.shape, data: new Int32Array(norm.data.length) });
      },
      /has dtype I32 but parameters must be/,
    ],
  ];
  it.each(broken)('%s gives a clear error', (_case, edit, pattern) => {
    const error = loadError(writeVariant(dir, edit));
    expect(error).toBeInstanceOf(CheckpointError);
    expect(error!.message).toMatch(pattern);
  });

  it('skips tensors that are not parameters', () => {
    const variant = writeVariant(dir, (state) => state.set('encoder.block.0.layer.0.SelfAttention.extra', copyOf(state, 'encoder.final_layer_norm.weight')));
    expect(loadT5Weights(variant, config).has('encoder.block.0.layer.0.SelfAttention.extra')).toBe(false);
  });

  it('saves byte-identical to save_pretrained and reloads', async () => {
    const model = T5ForConditionalGeneration.fromPretrained(dir);
    const out = path.join(temporaryDir(), 'saved');
    await model.save(out);

    expect(fs.readdirSync(out).sort()).toEqual(['config.json', 'model.safetensors']);
    expect(Buffer.compare(fs.readFileSync(path.join(out, 'model.safetensors')), fs.readFileSync(path.join(dir, 'model.safetensors')))).toBe(0);
    expect(loadT5Config(out).config).toEqual(config);

    const reloaded = T5ForConditionalGeneration.fromPretrained(out);
    const inputIds = tf.tensor2d(reference.input_ids, undefined, 'int32');
    const decoderInputIds = tf.tensor2d(reference.decoder_input_ids, undefined, 'int32');
    const before = model.forward({ inputIds, decoderInputIds });
    const after = reloaded.forward({ inputIds, decoderInputIds });
    expect(after.logits.dataSync()).toEqual(before.logits.dataSync());
    tf.dispose([inputIds, decoderInputIds, ...Object.values(before), ...Object.values(after)]);
    model.dispose();
    reloaded.dispose();
  });

  it('refuses to save an incomplete state and writes nothing', async () => {
    const parent = temporaryDir();
    const state = new Map(plain);
    state.delete('decoder.final_layer_norm.weight');
    await expect(saveT5Folder(path.join(parent, 'out'), config, state)).rejects.toThrow(MismatchError);

    state.set('decoder.final_layer_norm.weight', plain.get('decoder.final_layer_norm.weight')!);
    state.set('lm_head.weight', plain.get('shared.weight')!);
    await expect(saveT5Folder(path.join(parent, 'out'), config, state)).rejects.toThrow(/"lm_head.weight" is not a parameter/);
    expect(fs.readdirSync(parent)).toEqual([]);
  });

  it('refuses to overwrite a folder unless asked', async () => {
    const out = temporaryDir();
    fs.writeFileSync(path.join(out, 'keep.txt'), 'x');
    await expect(saveT5Folder(out, config, plain)).rejects.toThrow(InvalidInputError);
    expect(fs.readdirSync(out)).toEqual(['keep.txt']);
  });
});

describe('T5 weights folders', () => {
  const [fixture] = modelFixturesOfType('t5');

  it('names a folder without weights', () => {
    const dir = temporaryDir();
    fs.symlinkSync(path.join(fixture.dir, 'config.json'), path.join(dir, 'config.json'));
    const error = loadError(dir);
    expect(error).toBeInstanceOf(CheckpointError);
    expect(error!.message).toMatch(new RegExp(`^${dir}: .*no model weights`));
  });

  it.each(fixtures)('reads pytorch_model.bin of %s as model.safetensors', (_name, dir) => {
    const binOnly = temporaryDir();
    for (const file of ['config.json', 'pytorch_model.bin']) fs.symlinkSync(path.join(dir, file), path.join(binOnly, file));
    const { config } = loadT5Config(dir);

    const fromBin = loadT5Weights(binOnly, config);
    const fromSafetensors = loadT5Weights(dir, config);
    expect([...fromBin.keys()]).toEqual([...fromSafetensors.keys()]);
    for (const [name, tensor] of fromSafetensors) expect(fromBin.get(name)!.data).toEqual(tensor.data);
  });
});
