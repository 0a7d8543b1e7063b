import * as fs from 'fs';
import * as path from 'path';

import { modelFixtures, temporaryDir } from '@modularevo/test-support';

import { CheckpointError } from '../errors';
import { torchSave } from '../../test/torch-save';
import { MODEL_METADATA_FILES, copyModelMetadata, loadConfig, loadStateDict, openCheckpoint } from './folder';
import { loadSafetensors, saveSafetensors } from './safetensors';
import { saveCheckpoint } from './sharded-writer';
import type { StateDict } from './state-dict';

function marker(name: string): StateDict {
  return new Map([[name, { dtype: 'F32', shape: [1], data: new Float32Array([1]) }]]);
}

function expectCheckpointError(run: () => unknown, file: string, pattern: RegExp): void {
  let caught: unknown;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(CheckpointError);
  expect((caught as Error).message).toContain(file);
  expect((caught as Error).message).toMatch(pattern);
}

describe('openCheckpoint', () => {
  it('prefers safetensors, then its index, then .bin, then the .bin index', () => {
    const dir = temporaryDir();

    // pytorch_model.bin.index.json with one .bin shard
    torchSave(path.join(dir, 'pytorch_model-00001-of-00001.bin'), [
      ['from.bin.index', { storage: { dtype: 'F32', data: new Float32Array([1]) }, shape: [1] }],
    ]);
    fs.writeFileSync(
      path.join(dir, 'pytorch_model.bin.index.json'),
      JSON.stringify({ weight_map: { 'from.bin.index': 'pytorch_model-00001-of-00001.bin' } }),
    );
    torchSave(path.join(dir, 'pytorch_model.bin'), [
      ['from.bin', { storage: { dtype: 'F32', data: new Float32Array([1]) }, shape: [1] }],
    ]);
    saveCheckpoint(dir, new Map([...marker('from.index.a'), ...marker('from.index.b')]), { maxShardBytes: 4 });
    saveSafetensors(path.join(dir, 'model.safetensors'), marker('from.safetensors'));

    const expected: [string, string][] = [
      ['model.safetensors', 'from.safetensors'],
      ['model.safetensors.index.json', 'from.index.a'],
      ['pytorch_model.bin', 'from.bin'],
      ['pytorch_model.bin.index.json', 'from.bin.index'],
    ];
    for (const [file, key] of expected) {
      const reader = openCheckpoint(dir);
      expect(reader.path).toBe(path.join(dir, file));
      expect(reader.keys()[0]).toBe(key);
      reader.close();
      fs.rmSync(path.join(dir, file));
    }

    expectCheckpointError(
      () => openCheckpoint(dir),
      dir,
      /contains no model weights \(looked for model\.safetensors, model\.safetensors\.index\.json, pytorch_model\.bin, pytorch_model\.bin\.index\.json\)/,
    );
  });

  it.each(modelFixtures().map(({ name, dir }) => [name, dir]))('%s loads from the folder', (_name, dir) => {
    const state = loadStateDict(dir);
    const expected = loadSafetensors(path.join(dir, 'model.safetensors'));
    expect([...state.keys()]).toEqual([...expected.keys()]);

    const bin = loadStateDict(path.join(dir, 'pytorch_model.bin'));
    for (const name of expected.keys()) expect(bin.has(name)).toBe(true);
  });

  it('rejects a missing folder and an unknown file type', () => {
    const dir = temporaryDir();
    expectCheckpointError(() => openCheckpoint(path.join(dir, 'absent')), path.join(dir, 'absent'), /not found/);

    const weights = path.join(dir, 'weights.h5');
    fs.writeFileSync(weights, 'x');
    expectCheckpointError(() => openCheckpoint(weights), weights, /unknown weights file type/);
  });
});

describe('loadConfig', () => {
  it.each(modelFixtures().map(({ name, dir }) => [name, dir]))('%s reads config.json', (_name, dir) => {
    const config = loadConfig<{ model_type?: unknown; vocab_size?: unknown }>(dir);
    expect(typeof config.model_type).toBe('string');
    expect(config.vocab_size).toBe(JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')).vocab_size);
  });

  const cases: [string, string | undefined, RegExp][] = [
    ['missing config.json', undefined, /missing config\.json/],
    ['invalid JSON', '{"model_type": ', /config\.json is not valid JSON/],
    ['JSON that is not an object', '[1, 2]', /does not contain a JSON object/],
  ];

  it.each(cases)('%s gives a CheckpointError', (_name, content, pattern) => {
    const dir = temporaryDir();
    if (content !== undefined) fs.writeFileSync(path.join(dir, 'config.json'), content);
    expectCheckpointError(() => loadConfig(dir), path.join(dir, 'config.json'), pattern);
  });
});

describe('copyModelMetadata', () => {
  it.each(modelFixtures().map(({ name, dir }) => [name, dir]))('%s copies configs and tokenizer files', (_name, dir) => {
    const out = path.join(temporaryDir(), 'merged');
    const expected = (MODEL_METADATA_FILES as readonly string[]).filter((name) => fs.existsSync(path.join(dir, name)));
    expect(expected).toContain('config.json');

    expect(copyModelMetadata(dir, out)).toEqual(expected);
    expect(fs.readdirSync(out).sort()).toEqual([...expected].sort());
    for (const name of expected) {
      expect(fs.readFileSync(path.join(out, name)).equals(fs.readFileSync(path.join(dir, name)))).toBe(true);
    }
  });

  it('rejects a folder without config.json', () => {
    const from = temporaryDir();
    fs.writeFileSync(path.join(from, 'vocab.json'), '{}');
    const out = path.join(temporaryDir(), 'out');
    expectCheckpointError(() => copyModelMetadata(from, out), path.join(from, 'config.json'), /missing config\.json/);
    expect(fs.existsSync(out)).toBe(false);
  });
});
