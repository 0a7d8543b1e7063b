import * as fs from 'fs';
import * as path from 'path';

import { modelFixtures, temporaryDir } from '@modularevo/test-support';

import { CheckpointError, InvalidInputError } from '../errors';
import { torchSave, type TorchStorageSpec } from '../../test/torch-save';
import type { TypedArray } from './dtype';
import { SafetensorsFile, loadSafetensors, saveSafetensors } from './safetensors';
import { ShardedCheckpoint } from './sharded';
import { CheckpointWriter, saveCheckpoint } from './sharded-writer';
import { byteSize, type StateDict } from './state-dict';

function bytesOf(data: TypedArray): Buffer {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

function floats(count: number, start = 0): Float32Array {
  return Float32Array.from({ length: count }, (_, i) => start + i);
}

function expectSameState(actual: StateDict, expected: StateDict): void {
  expect([...actual.keys()].sort()).toEqual([...expected.keys()].sort());
  for (const [name, tensor] of expected) {
    const read = actual.get(name)!;
    expect(read.dtype).toBe(tensor.dtype);
    expect(read.shape).toEqual(tensor.shape);
    expect(bytesOf(read.data).equals(bytesOf(tensor.data))).toBe(true);
  }
}

function readSharded(indexPath: string): StateDict {
  const reader = ShardedCheckpoint.open(indexPath);
  const state: StateDict = new Map(reader.keys().map((name) => [name, reader.read(name)]));
  reader.close();
  return state;
}

describe('saveCheckpoint', () => {
  it.each(modelFixtures().map(({ name, dir }) => [name, dir]))('%s round-trips through small shards', (_name, dir) => {
    const state = loadSafetensors(path.join(dir, 'model.safetensors'));
    const out = temporaryDir();
    const maxShardBytes = 40_000;

    const files = saveCheckpoint(out, state, { maxShardBytes });

    // file names and index
    const shardCount = files.length - 1;
    expect(shardCount).toBeGreaterThan(1);
    expect(files[files.length - 1]).toBe('model.safetensors.index.json');
    const suffix = String(shardCount).padStart(5, '0');
    expect(files.slice(0, -1)).toEqual(
      Array.from({ length: shardCount }, (_, i) => `model-${String(i + 1).padStart(5, '0')}-of-${suffix}.safetensors`),
    );
    expect(fs.readdirSync(out).sort()).toEqual([...files].sort());

    const index = JSON.parse(fs.readFileSync(path.join(out, 'model.safetensors.index.json'), 'utf8'));
    expect(Object.keys(index)).toEqual(['metadata', 'weight_map']);
    const totalSize = [...state.values()].reduce((sum, tensor) => sum + byteSize(tensor), 0);
    expect(index.metadata).toEqual({ total_size: totalSize });
    expect(Object.keys(index.weight_map)).toEqual([...state.keys()].sort());

    // greedy split in state-dict order: a shard closes only when the next tensor would overflow it
    const names = [...state.keys()];
    let position = 0;
    for (let i = 0; i < shardCount; i++) {
      const shard = SafetensorsFile.open(path.join(out, files[i]));
      expect(shard.metadata()).toEqual({ format: 'pt' });
      const inShard = names.filter((name) => index.weight_map[name] === files[i]);
      expect(inShard).toEqual(names.slice(position, position + inShard.length));
      position += inShard.length;
      const bytes = inShard.reduce((sum, name) => sum + byteSize(state.get(name)!), 0);
      if (inShard.length > 1) expect(bytes).toBeLessThanOrEqual(maxShardBytes);
      if (position < names.length) expect(bytes + byteSize(state.get(names[position])!)).toBeGreaterThan(maxShardBytes);
      shard.close();
    }
    expect(position).toBe(names.length);

    expectSameState(readSharded(path.join(out, 'model.safetensors.index.json')), state);
  });

  it('writes the index text as transformers does', () => {
    const state: StateDict = new Map([
      ['b.weight', { dtype: 'F32', shape: [10], data: floats(10) }],
      ['a.weight', { dtype: 'F32', shape: [10], data: floats(10, 10) }],
      ['caf\u00e9', { dtype: 'F32', shape: [25], data: floats(25) }],
      ['10', { dtype: 'F32', shape: [2], data: floats(2) }],
      ['9', { dtype: 'F32', shape: [2], data: floats(2) }],
    ]);
    const out = temporaryDir();

    // 40 + 40 fit in 90 bytes; 100 does not join them; 8 does not join 100; 8 + 8 fit
    saveCheckpoint(out, state, { maxShardBytes: 90 });

    expect(fs.readFileSync(path.join(out, 'model.safetensors.index.json'), 'utf8')).toBe(
      [
        '{',
        '  "metadata": {',
        '    "total_size": 196',
        '  },',
        '  "weight_map": {',
        '    "10": "model-00003-of-00003.safetensors",',
        '    "9": "model-00003-of-00003.safetensors",',
        '    "a.weight": "model-00001-of-00003.safetensors",',
        '    "b.weight": "model-00001-of-00003.safetensors",',
        '    "caf\\u00e9": "model-00002-of-00003.safetensors"',
        '  }',
        '}',
        '',
      ].join('\n'),
    );
  });

  it('writes one model.safetensors when the state fits', () => {
    const dir = modelFixtures()[0].dir;
    const source = path.join(dir, 'model.safetensors');
    const out = temporaryDir();

    expect(saveCheckpoint(out, loadSafetensors(source))).toEqual(['model.safetensors']);
    expect(fs.readdirSync(out)).toEqual(['model.safetensors']);
    expect(fs.readFileSync(path.join(out, 'model.safetensors')).equals(fs.readFileSync(source))).toBe(true);
  });

  it('removes weight files of an earlier save', () => {
    const out = temporaryDir();
    fs.writeFileSync(path.join(out, 'config.json'), '{}');
    const state: StateDict = new Map(
      Array.from({ length: 4 }, (_, i) => [`layer.${i}.weight`, { dtype: 'F32' as const, shape: [4], data: floats(4, i) }]),
    );

    saveCheckpoint(out, state, { maxShardBytes: 16 });
    expect(fs.readdirSync(out).filter((name) => name.startsWith('model')).length).toBe(5);

    saveCheckpoint(out, state, { maxShardBytes: 32 });
    expect(fs.readdirSync(out).sort()).toEqual([
      'config.json',
      'model-00001-of-00002.safetensors',
      'model-00002-of-00002.safetensors',
      'model.safetensors.index.json',
    ]);
    expectSameState(readSharded(path.join(out, 'model.safetensors.index.json')), state);

    saveCheckpoint(out, state);
    expect(fs.readdirSync(out).sort()).toEqual(['config.json', 'model.safetensors']);

    saveCheckpoint(out, state, { maxShardBytes: 32 });
    expect(fs.existsSync(path.join(out, 'model.safetensors'))).toBe(false);
  });

  it('leaves no file when a tensor is never written', () => {
    const out = temporaryDir();
    const writer = new CheckpointWriter(out, [
      { name: 'a', dtype: 'F32', shape: [4] },
      { name: 'b', dtype: 'F32', shape: [4] },
    ], { maxShardBytes: 16 });
    writer.write('a', { dtype: 'F32', data: floats(4) });
    expect(() => writer.commit()).toThrow(/1 tensor was never written \(first: "b"\)/);
    expect(fs.readdirSync(out)).toEqual([]);
  });

  it('leaves no file when a write fails', () => {
    const out = temporaryDir();
    const writer = new CheckpointWriter(out, [{ name: 'a', dtype: 'F32', shape: [4] }]);
    expect(() => writer.write('a', { dtype: 'F32', data: floats(3) })).toThrow(InvalidInputError);
    expect(fs.readdirSync(out)).toEqual([]);
  });

  it('rejects invalid options and duplicate names', () => {
    const out = temporaryDir();
    const spec = { name: 'a', dtype: 'F32' as const, shape: [1] };
    expect(() => new CheckpointWriter(out, [spec], { maxShardBytes: 0 })).toThrow(InvalidInputError);
    expect(() => new CheckpointWriter(out, [spec, spec])).toThrow(/listed twice/);
    expect(fs.readdirSync(out)).toEqual([]);
  });
});

describe('ShardedCheckpoint', () => {
  function shardedFolder(): { dir: string; index: string; state: StateDict } {
    const dir = temporaryDir();
    const state: StateDict = new Map(
      Array.from({ length: 3 }, (_, i) => [`h.${i}.weight`, { dtype: 'F32' as const, shape: [2, 2], data: floats(4, 10 * i) }]),
    );
    saveCheckpoint(dir, state, { maxShardBytes: 16 });
    return { dir, index: path.join(dir, 'model.safetensors.index.json'), state };
  }

  it('reads pytorch_model.bin shards', () => {
    const dir = temporaryDir();
    const embeddings: TorchStorageSpec = { dtype: 'F32', data: floats(6) };
    const bias: TorchStorageSpec = { dtype: 'F16', data: new Uint16Array([0x3c00, 0xc000]) };
    torchSave(path.join(dir, 'pytorch_model-00001-of-00002.bin'), [
      ['wte.weight', { storage: embeddings, shape: [3, 2] }],
      ['lm_head.weight', { storage: embeddings, shape: [3, 2] }],
    ]);
    torchSave(path.join(dir, 'pytorch_model-00002-of-00002.bin'), [['ln.bias', { storage: bias, shape: [2] }]], {
      archiveName: 'pytorch_model-00002-of-00002',
    });
    fs.writeFileSync(
      path.join(dir, 'pytorch_model.bin.index.json'),
      JSON.stringify({
        metadata: { total_size: 28 },
        weight_map: {
          'lm_head.weight': 'pytorch_model-00001-of-00002.bin',
          'ln.bias': 'pytorch_model-00002-of-00002.bin',
          'wte.weight': 'pytorch_model-00001-of-00002.bin',
        },
      }),
    );

    const reader = ShardedCheckpoint.open(path.join(dir, 'pytorch_model.bin.index.json'));
    expect(reader.keys()).toEqual(['wte.weight', 'lm_head.weight', 'ln.bias']);
    expect(reader.shardFiles()).toEqual(['pytorch_model-00001-of-00002.bin', 'pytorch_model-00002-of-00002.bin']);
    expect(Array.from(reader.read('lm_head.weight').data as Float32Array)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(reader.info('ln.bias')).toEqual({ dtype: 'F16', shape: [2] });
    expect(Array.from(reader.read('ln.bias').data as Uint16Array)).toEqual([0x3c00, 0xc000]);
    reader.close();
  });

  const cases: [string, (folder: ReturnType<typeof shardedFolder>) => string, RegExp][] = [
    [
      'missing shard',
      ({ dir, index }) => {
        fs.rmSync(path.join(dir, 'model-00002-of-00003.safetensors'));
        return index;
      },
      /model\.safetensors\.index\.json: shard "model-00002-of-00003\.safetensors" named in weight_map is missing/,
    ],
    [
      'tensor the shard lacks',
      ({ dir, index }) => {
        const json = JSON.parse(fs.readFileSync(index, 'utf8'));
        json.weight_map['h.9.weight'] = 'model-00001-of-00003.safetensors';
        fs.writeFileSync(index, JSON.stringify(json));
        return path.join(dir, 'model-00001-of-00003.safetensors');
      },
      /model-00001-of-00003\.safetensors: 1 tensor that model\.safetensors\.index\.json assigns to this shard is not in it \(first: "h\.9\.weight"\)/,
    ],
    [
      'shard holding unlisted tensors',
      ({ dir }) => {
        saveSafetensors(path.join(dir, 'model-00003-of-00003.safetensors'), new Map([
          ['h.2.weight', { dtype: 'F32', shape: [1], data: floats(1) }],
          ['stray.bias', { dtype: 'F32', shape: [1], data: floats(1) }],
        ]));
        return path.join(dir, 'model-00003-of-00003.safetensors');
      },
      /model-00003-of-00003\.safetensors: shard contains 1 tensor that model\.safetensors\.index\.json does not list \(first: "stray\.bias"\)/,
    ],
    [
      'index that is not JSON',
      ({ index }) => {
        fs.writeFileSync(index, '{"weight_map": ');
        return index;
      },
      /shard index is not valid JSON/,
    ],
    [
      'index without weight_map',
      ({ index }) => {
        fs.writeFileSync(index, '{"metadata": {}}');
        return index;
      },
      /no "weight_map" object/,
    ],
    [
      'shard outside the folder',
      ({ index }) => {
        fs.writeFileSync(index, JSON.stringify({ weight_map: { a: '../model.safetensors' } }));
        return index;
      },
      /shard "\.\.\/model\.safetensors" lies outside the index's folder/,
    ],
  ];

  it.each(cases)('%s gives a CheckpointError', (_name, spoil, pattern) => {
    const folder = shardedFolder();
    const named = spoil(folder);
    let caught: unknown;
    try {
      ShardedCheckpoint.open(folder.index).close();
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(CheckpointError);
    expect((caught as Error).message).toContain(named);
    expect((caught as Error).message).toMatch(pattern);
  });
});
