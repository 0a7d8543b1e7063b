import * as fs from 'fs';
import * as path from 'path';
import { CheckpointError, loadConfig, openWeightsFile, SafetensorsFile } from '@modularevo/core-tensor';
import { modelFixtures, temporaryDir } from '@modularevo/test-support';

import { describeBaseModel, describeBaseModelFolder, hashWeights } from './base-model';

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
