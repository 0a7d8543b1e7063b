import * as fs from 'fs';
import * as path from 'path';
import { CheckpointError, loadConfig, openWeightsFile, SafetensorsFile } from '@modularevo/core-tensor';
import { modelFixtures, temporaryDir } from '@modularevo/test-support';

import type { PretrainedModel } from './architecture';
import { describeBaseModel, describeBaseModelFolder, describePretrainedModel, hashWeights } from './base-model';

describe('describeBaseModelFolder', () => {
  it('reads config, shapes and hash of every model fixture', () => {
    for (const { dir } of modelFixtures()) {
      const base = describeBaseModelFolder(dir);
      const reader = SafetensorsFile.open(path.join(dir, 'model.safetensors'));
      try {
        expect(base.config).toEqual(loadConfig(dir));
        expect(base.weightsSha256).toBe(hashWeights(reader));
        expect(base.weightsSha256).toMatch(/^[0-9a-f]{64}$/);
        expect([...base.parameterShapes.keys()].sort()).toEqual(reader.keys().sort());
      } finally {
        reader.close();
      }
    }
  });

  it('hashes pytorch_model.bin alike once tied duplicates are skipped', () => {
    // save_pretrained drops tied duplicates from model.safetensors but pytorch_model.bin keeps them
    for (const { dir } of modelFixtures()) {
      const safetensors = describeBaseModelFolder(dir);
      const bin = openWeightsFile(path.join(dir, 'pytorch_model.bin'));
      try {
        const tiedOnly = new Set(bin.keys().filter((name) => !safetensors.parameterShapes.has(name)));
        const config = loadConfig(dir);
        expect({ dir, hash: describeBaseModel(config, bin, { skip: (name) => tiedOnly.has(name) }).weightsSha256 }).toEqual({
          dir,
          hash: safetensors.weightsSha256,
        });
        if (tiedOnly.size > 0) expect(describeBaseModel(config, bin).weightsSha256).not.toBe(safetensors.weightsSha256);
      } finally {
        bin.close();
      }
    }
  });

  it('names a folder without weights', () => {
    const dir = temporaryDir();
    fs.writeFileSync(path.join(dir, 'config.json'), '{}');
    expect(() => describeBaseModelFolder(dir)).toThrow(CheckpointError);
    expect(() => describeBaseModelFolder(dir)).toThrow(dir);
  });
});

describe('describePretrainedModel', () => {
  it('lists tied weight and bias names of linear layers', () => {
    // the decoder's weight and bias are stored under other names, as RoBERTa's tied lm_head.decoder
    const state = new Map([
      ['embeddings.weight', { dtype: 'F32' as const, shape: [5, 3], data: new Float32Array(15) }],
      ['head.bias', { dtype: 'F32' as const, shape: [5], data: new Float32Array(5) }],
    ]);
    const model = {
      configJson: { model_type: 'toy' },
      stateDict: () => state,
      linearLayers: () => [{ name: 'head.decoder', weight: 'head.decoder.weight', bias: 'head.decoder.bias', inFeatures: 3, outFeatures: 5 }],
    } as unknown as PretrainedModel;

    const base = describePretrainedModel(model);
    expect(base.parameterShapes.get('head.decoder.weight')).toEqual([5, 3]);
    expect(base.parameterShapes.get('head.decoder.bias')).toEqual([5]);
    expect(base.weightsSha256).toBe(hashWeights(state));
  });
});
