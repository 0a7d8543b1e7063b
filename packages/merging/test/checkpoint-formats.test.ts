import * as fs from 'fs';
import * as path from 'path';

import { loadSafetensors, openCheckpoint, saveCheckpoint, setLogLevel, type StateDict } from '@modularevo/core-tensor';
import { modelFixturesOfType, temporaryDir } from '@modularevo/test-support';

import { mergeModelFolders } from '../src';
import { fineTune, valuesOf, writeModelFolder } from './helpers';

setLogLevel('warn');

function readAll(dir: string): StateDict {
  const reader = openCheckpoint(dir);
  try {
    return new Map(reader.keys().map((name) => [name, reader.read(name)]));
  } finally {
    reader.close();
  }
}

describe('input checkpoint formats', () => {
  it.each(modelFixturesOfType('gpt_neo').map(({ name, dir }) => [name, dir]))(
    '%s: PyTorch .bin and safetensors bases merge alike, tied lm_head written once',
    async (_name, dir) => {
      const base = loadSafetensors(path.join(dir, 'model.safetensors'));
      const models = [fineTune(base, 61), fineTune(base, 62)].map((state) => writeModelFolder(state));
      const fromSafetensors = path.join(temporaryDir(), 'a');
      const fromBin = path.join(temporaryDir(), 'b');
      const config = { method: 'ties' as const, trim: 0.5 };

      await mergeModelFolders({ base: dir, models, out: fromSafetensors, config });
      await mergeModelFolders({ base: path.join(dir, 'pytorch_model.bin'), models, out: fromBin, config });

      const expected = readAll(fromSafetensors);
      const actual = readAll(fromBin);
      expect(actual.has('lm_head.weight')).toBe(false);
      expect([...actual.keys()].sort()).toEqual([...expected.keys()].sort());
      for (const name of expected.keys()) expect(valuesOf(actual, name)).toEqual(valuesOf(expected, name));
    },
  );

  it('sharded safetensors inputs read like single files', async () => {
    const [{ dir }] = modelFixturesOfType('gpt_neo');
    const base = loadSafetensors(path.join(dir, 'model.safetensors'));
    const tuned = fineTune(base, 63);
    const single = writeModelFolder(tuned);
    const sharded = temporaryDir();
    fs.copyFileSync(path.join(single, 'config.json'), path.join(sharded, 'config.json'));
    saveCheckpoint(sharded, tuned, { maxShardBytes: 20_000 });
    expect(fs.existsSync(path.join(sharded, 'model.safetensors.index.json'))).toBe(true);

    const outSingle = path.join(temporaryDir(), 'single');
    const outSharded = path.join(temporaryDir(), 'sharded');
    await mergeModelFolders({ base: dir, models: [single], out: outSingle, config: { method: 'dare', drop: 0.5, seed: 4 } });
    await mergeModelFolders({ base: dir, models: [sharded], out: outSharded, config: { method: 'dare', drop: 0.5, seed: 4 } });

    const expected = readAll(outSingle);
    const actual = readAll(outSharded);
    for (const name of expected.keys()) expect(valuesOf(actual, name)).toEqual(valuesOf(expected, name));
  });
});
