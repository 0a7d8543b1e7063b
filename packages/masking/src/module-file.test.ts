import * as fs from 'fs';
import * as path from 'path';
import {
  CheckpointError,
  InvalidInputError,
  loadSafetensors,
  MismatchError,
  saveSafetensors,
  SafetensorsFile,
} from '@modularevo/core-tensor';
import { modelFixtures, temporaryDir } from '@modularevo/test-support';

import { describeBaseModel } from './base-model';
import { unpackMask } from './bit-packing';
import { moduleFromScores, type Module } from './module';
import { loadModule, MASKS_FILE, MODULE_JSON, saveModule, SCORES_FILE } from './module-file';
import { MaskScores } from './scores';
import { openMaskingModel, shiftedScores, type MaskingModel } from './testing/model-fixture';
import { startBackend } from './testing/backend';

let models: MaskingModel[];

beforeAll(async () => {
  await startBackend();
  models = modelFixtures().map(({ dir }) => openMaskingModel(dir));
});

async function makeModule(model: MaskingModel, seed = 7, keep = 0.4): Promise<Module> {
  const scores = MaskScores.fromValues(model.layers, shiftedScores(model.layers, seed, keep));
  try {
    return await moduleFromScores(scores, { base: model.base, domain: 'code', threshold: 0.5, training: { lr: 0.005, alpha: 1 } });
  } finally {
    scores.dispose();
  }
}

// One saved module per model, copied for each test that edits or reads a folder.
const savedOnce = new Map<MaskingModel, string>();

async function savedModuleDir(model: MaskingModel): Promise<string> {
  let original = savedOnce.get(model);
  if (!original) {
    original = path.join(temporaryDir(), 'module');
    await saveModule(original, await makeModule(model));
    savedOnce.set(model, original);
  }
  const dir = path.join(temporaryDir(), 'module');
  fs.cpSync(original, dir, { recursive: true });
  return dir;
}

describe('saveModule and loadModule', () => {
  it('round-trips every model fixture', async () => {
    for (const model of models) {
      const module = await makeModule(model);
      const dir = path.join(temporaryDir(), 'module');
      await saveModule(dir, module);
      const loaded = loadModule(dir, { base: model.base });

      expect(loaded.domain).toBe('code');
      expect(loaded.threshold).toBe(0.5);
      expect(loaded.training).toEqual({ lr: 0.005, alpha: 1 });
      expect(loaded.baseModel).toEqual(module.baseModel);
      expect(loaded.weightRetentionRate).toBe(module.weightRetentionRate);
      expect([...loaded.masks.keys()]).toEqual([...module.masks.keys()]);
      for (const [name, mask] of module.masks) expect(loaded.masks.get(name)).toEqual(mask);
      for (const [name, tensor] of module.scores!) expect(loaded.scores!.get(name)!.data).toEqual(tensor.data);
    }
  });

  it('keeps masks in module order, not file order', async () => {
    const model = models[0];
    const loaded = loadModule(await savedModuleDir(model));
    const expected = model.layers.flatMap((layer) => (layer.bias ? [layer.weight, layer.bias] : [layer.weight]));
    expect([...loaded.masks.keys()]).toEqual(expected);
  });

  it('stores masks as bit-packed U8 entries', async () => {
    const model = models[0];
    const values = shiftedScores(model.layers, 7, 0.4);
    const dir = await savedModuleDir(model);
    const reader = SafetensorsFile.open(path.join(dir, MASKS_FILE));
    try {
      const shapes = JSON.parse(reader.metadata().shapes);
      for (const [name, scores] of values) {
        const info = reader.info(name);
        expect(info).toEqual({ dtype: 'U8', shape: [Math.ceil(scores.data.length / 8)] });
        expect(shapes[name]).toEqual(scores.shape);

        // decode the bytes by hand: entry i is bit i % 8 of byte i / 8
        const bytes = reader.read(name).data as Uint8Array;
        const scoreValues = scores.data as Float32Array;
        let wrongEntries = 0;
        for (let i = 0; i < scoreValues.length; i++) {
          if (((bytes[Math.floor(i / 8)] >> i % 8) & 1) !== (scoreValues[i] > 0 ? 1 : 0)) wrongEntries++;
        }
        expect({ name, wrongEntries }).toEqual({ name, wrongEntries: 0 });
      }
    } finally {
      reader.close();
    }
  });

  it('writes the base identity and counts to module.json', async () => {
    const model = models[0];
    const dir = await savedModuleDir(model);
    const json = JSON.parse(fs.readFileSync(path.join(dir, MODULE_JSON), 'utf8'));
    const loaded = loadModule(dir);
    let retained = 0;
    for (const mask of loaded.masks.values()) retained += unpackMask(mask).reduce((a, b) => a + b, 0);

    expect(json.base_model.weights_sha256).toBe(model.base.weightsSha256);
    expect(json.base_model.config).toEqual(model.base.config);
    expect(json.retained_entries).toBe(retained);
    expect(json.weight_retention_rate).toBe(retained / json.total_entries);
    expect(json.threshold).toBe(0.5);
    expect(json.scores_file).toBe(SCORES_FILE);
    expect(json.masked_parameters[0]).toEqual({
      name: model.layers[0].weight,
      shape: [model.layers[0].outFeatures, model.layers[0].inFeatures],
      retained: expect.any(Number),
    });
  });

  it('saves without scores on request', async () => {
    const dir = path.join(temporaryDir(), 'module');
    await saveModule(dir, await makeModule(models[0]), { scores: false });
    expect(fs.existsSync(path.join(dir, SCORES_FILE))).toBe(false);
    expect(loadModule(dir).scores).toBeUndefined();
  });

  it('skips scores on load on request', async () => {
    expect(loadModule(await savedModuleDir(models[0]), { scores: false }).scores).toBeUndefined();
  });
});

describe('base model checks', () => {
  it('rejects a module for another base model', async () => {
    const model = models[0];
    const dir = await savedModuleDir(model);
    const weights = loadSafetensors(path.join(model.dir, 'model.safetensors'));
    const changed = weights.values().next().value!;
    (changed.data as Float32Array)[0] += 1;
    const other = describeBaseModel(model.base.config, weights);

    expect(() => loadModule(dir, { base: other })).toThrow(MismatchError);
    expect(() => loadModule(dir, { base: other })).toThrow(
      `was learned on a base model with weights SHA-256 ${model.base.weightsSha256}, but the given base model has ${other.weightsSha256}`,
    );
  });

  it('rejects a mask the base model lacks', async () => {
    const model = models[0];
    const dir = await savedModuleDir(model);
    const shapes = new Map(model.base.parameterShapes);
    shapes.delete(model.layers[0].weight);
    expect(() => loadModule(dir, { base: { ...model.base, parameterShapes: shapes } })).toThrow(
      `has a mask for "${model.layers[0].weight}", but the base model has no such parameter`,
    );
  });

  it('rejects a mask of another shape', async () => {
    const model = models[0];
    const dir = await savedModuleDir(model);
    const shapes = new Map(model.base.parameterShapes);
    shapes.set(model.layers[0].weight, [1, 2]);
    expect(() => loadModule(dir, { base: { ...model.base, parameterShapes: shapes } })).toThrow(MismatchError);
  });

  it('moduleFromScores rejects layers the base lacks', async () => {
    const model = models[0];
    const layers = [{ name: 'extra', weight: 'extra.weight', inFeatures: 2, outFeatures: 2 }];
    const scores = MaskScores.fromValues(layers, shiftedScores(layers, 1, 0.5));
    try {
      await expect(moduleFromScores(scores, { base: model.base, domain: 'code' })).rejects.toThrow(
        'has a mask for "extra.weight", but the base model has no such parameter',
      );
    } finally {
      scores.dispose();
    }
  });

  it('hash ignores tensor order in the file', () => {
    const model = models[0];
    const weights = loadSafetensors(path.join(model.dir, 'model.safetensors'));
    const reversed = new Map([...weights].reverse());
    expect(describeBaseModel(model.base.config, reversed).weightsSha256).toBe(model.base.weightsSha256);
  });

  it('hash skips the tensors the caller names', () => {
    const model = models[0];
    const weights = loadSafetensors(path.join(model.dir, 'model.safetensors'));
    const first = weights.keys().next().value!;
    const withoutFirst = new Map([...weights].filter(([name]) => name !== first));
    expect(describeBaseModel(model.base.config, weights, { skip: (name) => name === first }).weightsSha256).toBe(
      describeBaseModel(model.base.config, withoutFirst).weightsSha256,
    );
    expect(describeBaseModel(model.base.config, withoutFirst).weightsSha256).not.toBe(model.base.weightsSha256);
  });
});

describe('threshold checks', () => {
  it.each([0, 1, 1.5, -0.25, NaN])('moduleFromScores rejects threshold %p', async (threshold) => {
    const model = models[0];
    const scores = MaskScores.fromValues(model.layers, shiftedScores(model.layers, 3, 0.5));
    try {
      await expect(moduleFromScores(scores, { base: model.base, domain: 'code', threshold })).rejects.toThrow(InvalidInputError);
      await expect(moduleFromScores(scores, { base: model.base, domain: 'code', threshold })).rejects.toThrow(
        `Invalid threshold ${threshold}: a snapshot threshold is a weight retention rate strictly between 0 and 1`,
      );
    } finally {
      scores.dispose();
    }
  });

  it('saveModule rejects threshold 1 and writes nothing', async () => {
    const dir = path.join(temporaryDir(), 'module');
    const module = { ...(await makeModule(models[0])), threshold: 1 };
    await expect(saveModule(dir, module)).rejects.toThrow(InvalidInputError);
    expect(fs.existsSync(dir)).toBe(false);
    expect(fs.readdirSync(path.dirname(dir))).toEqual([]);
  });

  it('loadModule rejects an edited threshold', async () => {
    const dir = await savedModuleDir(models[0]);
    editJson(path.join(dir, MODULE_JSON), (json) => (json.threshold = 2));
    expect(() => loadModule(dir)).toThrow('"threshold" 2 must be null or a number strictly between 0 and 1');
  });
});

describe('corrupt module folders', () => {
  it('names a missing module.json', () => {
    const dir = temporaryDir();
    expect(() => loadModule(dir)).toThrow(CheckpointError);
    expect(() => loadModule(dir)).toThrow(`${path.join(dir, MODULE_JSON)}: not found`);
  });

  it('names a missing mask file', async () => {
    const dir = await savedModuleDir(models[0]);
    fs.rmSync(path.join(dir, MASKS_FILE));
    expect(() => loadModule(dir)).toThrow(`${path.join(dir, MASKS_FILE)}: not found`);
  });

  it('rejects a truncated mask file', async () => {
    const dir = await savedModuleDir(models[0]);
    const file = path.join(dir, MASKS_FILE);
    fs.truncateSync(file, fs.statSync(file).size - 3);
    expect(() => loadModule(dir)).toThrow(CheckpointError);
    expect(() => loadModule(dir)).toThrow('truncated');
  });

  it('rejects a packed size that misses the shape', async () => {
    const model = models[0];
    const dir = await savedModuleDir(model);
    const name = model.layers[0].weight;
    rewriteMasks(dir, (masks) => {
      const mask = masks.get(name)!;
      masks.set(name, { dtype: 'U8', shape: [mask.data.length - 1], data: mask.data.slice(1) });
    });
    expect(() => loadModule(dir)).toThrow(`mask "${name}" is corrupt:`);
    expect(() => loadModule(dir)).toThrow('packed bytes do not fit shape');
  });

  it('rejects a flipped bit', async () => {
    const model = models[0];
    const dir = await savedModuleDir(model);
    const name = model.layers[0].weight;
    rewriteMasks(dir, (masks) => {
      (masks.get(name)!.data as Uint8Array)[0] ^= 1;
    });
    expect(() => loadModule(dir)).toThrow(`mask "${name}" keeps`);
  });

  it('rejects set padding bits', async () => {
    // any parameter whose entry count is not a multiple of 8 has padding bits in its last byte
    const found = models.flatMap((model) =>
      model.layers.flatMap((layer) => [
        { model, name: layer.weight, entries: layer.inFeatures * layer.outFeatures },
        ...(layer.bias ? [{ model, name: layer.bias, entries: layer.outFeatures }] : []),
      ]),
    ).find((candidate) => candidate.entries % 8 !== 0);
    if (!found) throw new Error('No model fixture has a parameter whose size leaves padding bits');

    const dir = await savedModuleDir(found.model);
    rewriteMasks(dir, (masks) => {
      const bytes = masks.get(found.name)!.data as Uint8Array;
      bytes[bytes.length - 1] |= 0x80;
    });
    expect(() => loadModule(dir)).toThrow(`mask "${found.name}" is corrupt: bits past the last`);
  });

  it('rejects a mask of another dtype', async () => {
    const model = models[0];
    const dir = await savedModuleDir(model);
    const name = model.layers[0].weight;
    rewriteMasks(dir, (masks) => masks.set(name, { dtype: 'F32', shape: [1], data: new Float32Array(1) }));
    expect(() => loadModule(dir)).toThrow(`mask "${name}" is F32 [1]; masks are stored as bit-packed 1-D U8 tensors`);
  });

  it('rejects a mask module.json does not list', async () => {
    const dir = await savedModuleDir(models[0]);
    rewriteMasks(dir, (masks) => masks.set('stray.weight', { dtype: 'U8', shape: [1], data: new Uint8Array(1) }));
    expect(() => loadModule(dir)).toThrow('contains a mask for "stray.weight" that module.json does not list');
  });

  it('rejects a listed mask the file lacks', async () => {
    const model = models[0];
    const dir = await savedModuleDir(model);
    rewriteMasks(dir, (masks) => masks.delete(model.layers[0].weight));
    expect(() => loadModule(dir)).toThrow(`mask for "${model.layers[0].weight}" not found`);
  });

  it('rejects invalid JSON', async () => {
    const dir = await savedModuleDir(models[0]);
    fs.writeFileSync(path.join(dir, MODULE_JSON), '{"format": ');
    expect(() => loadModule(dir)).toThrow(`${path.join(dir, MODULE_JSON)}: is not valid JSON`);
  });

  it('rejects a malformed weight hash', async () => {
    const dir = await savedModuleDir(models[0]);
    editJson(path.join(dir, MODULE_JSON), (json) => (json.base_model.weights_sha256 = 'abc'));
    expect(() => loadModule(dir)).toThrow('"base_model.weights_sha256" must be 64 lower-case hex digits');
  });

  it('rejects scores of another shape', async () => {
    const model = models[0];
    const dir = await savedModuleDir(model);
    const file = path.join(dir, SCORES_FILE);
    const scores = loadSafetensors(file);
    scores.set(model.layers[0].weight, { dtype: 'F32', shape: [1], data: new Float32Array(1) });
    saveSafetensors(file, scores);
    expect(() => loadModule(dir)).toThrow(`scores for "${model.layers[0].weight}" have shape [1]`);
    expect(loadModule(dir, { scores: false }).masks.size).toBeGreaterThan(0);
  });
});

describe('atomic output', () => {
  it('refuses a non-empty folder without overwrite', async () => {
    const dir = await savedModuleDir(models[0]);
    const before = fs.readFileSync(path.join(dir, MODULE_JSON), 'utf8');
    const other = await makeModule(models[0], 99, 0.9);
    await expect(saveModule(dir, other)).rejects.toThrow('already exists and is not empty');
    expect(fs.readFileSync(path.join(dir, MODULE_JSON), 'utf8')).toBe(before);

    await saveModule(dir, other, { overwrite: true });
    expect(loadModule(dir).weightRetentionRate).toBe(other.weightRetentionRate);
  });

  it('writes nothing for scores that miss the masks', async () => {
    const dir = path.join(temporaryDir(), 'module');
    const module = await makeModule(models[0]);
    module.scores!.delete(models[0].layers[0].weight);
    await expect(saveModule(dir, module)).rejects.toThrow(`Cannot save the scores: no scores for "${models[0].layers[0].weight}"`);
    expect(fs.readdirSync(path.dirname(dir))).toEqual([]);
  });
});

function editJson(file: string, edit: (json: any) => void): void {
  const json = JSON.parse(fs.readFileSync(file, 'utf8'));
  edit(json);
  fs.writeFileSync(file, JSON.stringify(json));
}

function rewriteMasks(dir: string, edit: (masks: Map<string, any>) => void): void {
  const file = path.join(dir, MASKS_FILE);
  const reader = SafetensorsFile.open(file);
  const metadata = reader.metadata();
  const masks = reader.readAll();
  reader.close();
  edit(masks);
  saveSafetensors(file, masks, metadata);
}
