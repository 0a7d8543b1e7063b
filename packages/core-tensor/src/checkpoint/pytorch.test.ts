import * as fs from 'fs';
import * as path from 'path';

import { modelFixtures, readJsonFixture, temporaryDir } from '@modularevo/test-support';

import { CheckpointError } from '../errors';
import {
  stateDictPickle,
  torchSave,
  torchSaveRecords,
  writeZip,
  type TorchSaveOptions,
  type TorchStorageSpec,
  type TorchTensorSpec,
} from '../../test/torch-save';
import type { DType, TypedArray } from './dtype';
import { PyTorchFile, loadPyTorch } from './pytorch';
import { SafetensorsFile } from './safetensors';
import type { RawTensor } from './state-dict';
import { ZipArchive } from './zip';

function bytesOf(data: TypedArray): Buffer {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

function expectSameTensor(actual: RawTensor, expected: RawTensor): void {
  expect(actual.dtype).toBe(expected.dtype);
  expect(actual.shape).toEqual(expected.shape);
  expect(bytesOf(actual.data).equals(bytesOf(expected.data))).toBe(true);
}

interface CheckpointKeys {
  'model.safetensors': string[];
  'pytorch_model.bin': string[];
}

describe('pytorch_model.bin of the fixtures', () => {
  const models = modelFixtures().map(({ name, dir }) => [name, dir]);

  it.each(models)('%s matches model.safetensors bit for bit', (_name, dir) => {
    const bin = PyTorchFile.open(path.join(dir, 'pytorch_model.bin'));
    const safetensors = SafetensorsFile.open(path.join(dir, 'model.safetensors'));

    const shared = safetensors.keys().filter((name) => bin.has(name));
    expect(shared).toEqual(safetensors.keys());
    for (const name of shared) expectSameTensor(bin.read(name), safetensors.read(name));

    bin.close();
    safetensors.close();
  });

  it.each(models)('%s keys only in the .bin are tied duplicates', (name, dir) => {
    const keys = readJsonFixture<{ checkpoint_keys: CheckpointKeys }>('models', name, 'reference.json').checkpoint_keys;
    const listedOnlyInBin = keys['pytorch_model.bin'].filter((key) => !keys['model.safetensors'].includes(key));

    const bin = PyTorchFile.open(path.join(dir, 'pytorch_model.bin'));
    const safetensors = SafetensorsFile.open(path.join(dir, 'model.safetensors'));
    const onlyInBin = bin.keys().filter((key) => !safetensors.has(key));
    expect([...onlyInBin].sort()).toEqual([...listedOnlyInBin].sort());

    // each such key is tied to exactly one key that the safetensors file kept, with equal values
    const groups = bin.tiedGroups();
    for (const key of onlyInBin) {
      const group = groups.find((members) => members.includes(key));
      expect(group).toBeDefined();
      const targets = group!.filter((member) => safetensors.has(member));
      expect(targets).toHaveLength(1);
      expectSameTensor(bin.read(key), safetensors.read(targets[0]));
    }

    bin.close();
    safetensors.close();
  });

  it.each(models)('%s key lists match reference.json', (name, dir) => {
    const keys = readJsonFixture<{ checkpoint_keys: CheckpointKeys }>('models', name, 'reference.json').checkpoint_keys;

    const bin = PyTorchFile.open(path.join(dir, 'pytorch_model.bin'));
    const safetensors = SafetensorsFile.open(path.join(dir, 'model.safetensors'));
    expect([...bin.keys()].sort()).toEqual([...keys['pytorch_model.bin']].sort());
    expect([...safetensors.keys()].sort()).toEqual([...keys['model.safetensors']].sort());
    bin.close();
    safetensors.close();
  });
});

describe('pytorch reader on generated archives', () => {
  const arange = new Float32Array(Array.from({ length: 12 }, (_, i) => i));
  const storage: TorchStorageSpec = { dtype: 'F32', data: arange };

  function save(tensors: [string, TorchTensorSpec][], options: TorchSaveOptions = {}): string {
    const file = path.join(temporaryDir(), 'pytorch_model.bin');
    torchSave(file, tensors, options);
    return file;
  }

  function values(file: string, name: string): number[] {
    const reader = PyTorchFile.open(file);
    try {
      return Array.from(reader.read(name).data as Float32Array);
    } finally {
      reader.close();
    }
  }

  const views: [string, TorchTensorSpec, number[]][] = [
    ['contiguous', { storage, shape: [3, 4] }, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]],
    ['transposed', { storage, shape: [4, 3], stride: [1, 4] }, [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]],
    ['offset block', { storage, shape: [2, 2], stride: [4, 1], offset: 2 }, [2, 3, 6, 7]],
    ['expanded', { storage, shape: [3, 2], stride: [0, 1], offset: 5 }, [5, 6, 5, 6, 5, 6]],
    ['every other column', { storage, shape: [3, 2], stride: [4, 2], offset: 1 }, [1, 3, 5, 7, 9, 11]],
    ['scalar', { storage, shape: [], stride: [], offset: 7 }, [7]],
    ['empty', { storage, shape: [0, 3] }, []],
    ['size-one dim with odd stride', { storage, shape: [1, 3], stride: [99, 1], offset: 9 }, [9, 10, 11]],
  ];

  it.each(views)('%s view reads row-major', (name, view, expected) => {
    const file = save([[name, view]]);
    expect(values(file, name)).toEqual(expected);
  });

  it('reads several views of one storage', () => {
    const file = save(views.map(([name, view]) => [name, view]));
    const reader = PyTorchFile.open(file);
    for (const [name, , expected] of views) {
      expect(Array.from(reader.read(name).data as Float32Array)).toEqual(expected);
      expect(reader.info(name).shape).toEqual(views.find(([n]) => n === name)![1].shape);
    }
    expect(reader.tiedGroups()).toEqual([]);
    reader.close();
  });

  it('groups tied names', () => {
    const file = save([
      ['transformer.wte.weight', { storage, shape: [3, 4] }],
      ['other', { storage, shape: [2, 2], offset: 2, stride: [4, 1] }],
      ['lm_head.weight', { storage, shape: [3, 4] }],
    ]);
    const reader = PyTorchFile.open(file);
    expect(reader.tiedGroups()).toEqual([['transformer.wte.weight', 'lm_head.weight']]);
    const tied = reader.read('lm_head.weight');
    expectSameTensor(tied, reader.read('transformer.wte.weight'));
    expect(tied.data.buffer).not.toBe(reader.read('transformer.wte.weight').data.buffer);
    reader.close();
  });

  const dtypeCases: [DType, TypedArray][] = [
    ['F64', new Float64Array([1.5, -0, NaN, Infinity, -1e300, 2 ** -1074])],
    ['F16', new Uint16Array([0x3c00, 0x8000, 0x7e01, 0x7c00, 0x0001, 0xfbff])],
    ['BF16', new Uint16Array([0x3f80, 0x8000, 0x7fc1, 0xff80, 0x0001, 0x4049])],
    ['I64', new BigInt64Array([0n, -1n, 2n ** 62n, -(2n ** 63n), 5n, 7n])],
    ['I32', new Int32Array([0, -1, 2 ** 31 - 1, -(2 ** 31), 5, 7])],
    ['I16', new Int16Array([0, -1, 32767, -32768, 5, 7])],
    ['I8', new Int8Array([0, -1, 127, -128, 5, 7])],
    ['U8', new Uint8Array([0, 1, 255, 128, 5, 7])],
    ['BOOL', new Uint8Array([0, 1, 1, 0, 1, 0])],
  ];

  it.each(dtypeCases)('%s storage reads bit-identical, contiguous and transposed', (dtype, data) => {
    const typed: TorchStorageSpec = { dtype, data };
    for (const options of [{}, { byteOrder: 'big' as const }, { storageGlobal: 'dtype' as const }]) {
      const file = save(
        [
          ['plain', { storage: typed, shape: [2, 3] }],
          ['transposed', { storage: typed, shape: [3, 2], stride: [1, 3] }],
        ],
        options,
      );
      const reader = PyTorchFile.open(file);

      const plain = reader.read('plain');
      expect(plain.dtype).toBe(dtype);
      expect(bytesOf(plain.data).equals(bytesOf(data))).toBe(true);

      // element [i, j] of the transpose is element [j, i] of the storage
      const transposed = reader.read('transposed');
      const size = bytesOf(data).length / data.length;
      const expected = Buffer.concat(
        [0, 3, 1, 4, 2, 5].map((index) => bytesOf(data).subarray(index * size, (index + 1) * size)),
      );
      expect(bytesOf(transposed.data).equals(expected)).toBe(true);
      reader.close();
    }
  });

  const formats: [string, TorchSaveOptions][] = [
    ['protocol 4 with FRAME and STACK_GLOBAL', { protocol: 4 }],
    ['OrderedDict with _metadata', { topLevel: 'OrderedDict' }],
    ['nn.Parameter values', { parameters: true }],
    ['deflated records', { compress: true }],
    ['ZIP64 records', { zip64: true }],
    ['no byteorder record', { byteOrder: null }],
    ['archive folder named after the file', { archiveName: 'pytorch_model' }],
    ['everything at once', { protocol: 4, topLevel: 'OrderedDict', parameters: true, compress: true, zip64: true }],
  ];

  it.each(formats)('%s reads the same tensors', (_name, options) => {
    const file = save(
      [
        ['a.weight', { storage, shape: [4, 3], stride: [1, 4] }],
        ['b.bias', { storage, shape: [2], offset: 10 }],
      ],
      options,
    );
    const reader = PyTorchFile.open(file);
    expect(reader.keys()).toEqual(['a.weight', 'b.bias']);
    expect(Array.from(reader.read('a.weight').data as Float32Array)).toEqual([0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]);
    expect(Array.from(reader.read('b.bias').data as Float32Array)).toEqual([10, 11]);
    reader.close();
  });

  it('reads only the requested storage bytes', () => {
    const big: TorchStorageSpec = { dtype: 'F32', data: new Float32Array(1 << 20).fill(1) };
    const file = save([
      ['big', { storage: big, shape: [1 << 20] }],
      ['small', { storage, shape: [2, 2], offset: 4 }],
    ]);
    const reader = PyTorchFile.open(file);
    const read = jest.spyOn(ZipArchive.prototype, 'read');
    try {
      reader.read('small');
      expect(read.mock.calls.map(([entry, start, length]) => [entry.name, start, length])).toEqual([
        ['archive/data/1', 16, 16],
      ]);
    } finally {
      read.mockRestore();
      reader.close();
    }
  });

  it('loadPyTorch reads every tensor', () => {
    const file = save([
      ['x', { storage, shape: [12] }],
      ['y', { storage, shape: [2, 2], offset: 8, stride: [2, 1] }],
    ]);
    const state = loadPyTorch(file);
    expect([...state.keys()]).toEqual(['x', 'y']);
    expect(Array.from(state.get('y')!.data as Float32Array)).toEqual([8, 9, 10, 11]);
  });
});

describe('pytorch reader bad input', () => {
  const fixtureBin = path.join(modelFixtures()[0].dir, 'pytorch_model.bin');
  const storage: TorchStorageSpec = { dtype: 'F32', data: new Float32Array([1, 2, 3, 4]) };
  const tensors: [string, TorchTensorSpec][] = [['w', { storage, shape: [2, 2] }]];

  function file(build: (target: string) => void): string {
    const target = path.join(temporaryDir(), 'pytorch_model.bin');
    build(target);
    return target;
  }

  function recordsWith(change: (records: ReturnType<typeof torchSaveRecords>) => void) {
    return (target: string) => {
      const records = torchSaveRecords(tensors);
      change(records);
      writeZip(target, records);
    };
  }

  const cases: [string, (target: string) => void, RegExp][] = [
    ['empty file', (target) => fs.writeFileSync(target, ''), /empty/],
    [
      'truncated zip',
      (target) => fs.writeFileSync(target, fs.readFileSync(fixtureBin).subarray(0, fs.statSync(fixtureBin).size - 100)),
      /truncated/,
    ],
    [
      'zip cut in half',
      (target) => fs.writeFileSync(target, fs.readFileSync(fixtureBin).subarray(0, fs.statSync(fixtureBin).size >> 1)),
      /truncated/,
    ],
    [
      'legacy pickle format',
      // protocol 2, then LONG1 of the legacy magic number 0x1950a86a20f9469cfc6c
      (target) => fs.writeFileSync(target, Buffer.from('80028a0a6cfc9c46f9206aa850192e', 'hex')),
      /_use_new_zipfile_serialization=True/,
    ],
    [
      'legacy tar format',
      (target) => {
        const tar = Buffer.alloc(1024);
        tar.write('ustar', 257, 'latin1');
        fs.writeFileSync(target, tar);
      },
      /tar archive.*_use_new_zipfile_serialization=True/,
    ],
    ['not a checkpoint', (target) => fs.writeFileSync(target, 'hello world'), /not a PyTorch checkpoint/],
    ['unknown pickle global', (target) => torchSave(target, tensors, { foreignGlobal: ['os', 'system'] }), /"os\.system".*not part of a PyTorch state dict/],
    [
      'unsupported storage type',
      (target) => torchSave(target, tensors, { foreignGlobal: ['torch', 'ComplexFloatStorage'] }),
      /torch\.ComplexFloatStorage, which is not supported/,
    ],
    [
      'text opcode of protocol 0',
      recordsWith((records) => {
        records[0].data = Buffer.from('(dp0\nS\'a\'\nI1\ns.', 'latin1');
      }),
      /unsupported pickle opcode 0x70 \(PUT, a text opcode of protocol 0\)/,
    ],
    [
      'truncated pickle',
      recordsWith((records) => {
        records[0].data = records[0].data.subarray(0, 40);
      }),
      /truncated data\.pkl/,
    ],
    [
      'value that is not a tensor',
      recordsWith((records) => {
        // {'a': 5}: PROTO 2, EMPTY_DICT, MARK, BINUNICODE 'a', BININT1 5, SETITEMS, STOP
        records[0].data = Buffer.from([0x80, 0x02, 0x7d, 0x28, 0x58, 1, 0, 0, 0, 0x61, 0x4b, 5, 0x75, 0x2e]);
      }),
      /value of "a" is not a tensor/,
    ],
    [
      'missing storage record',
      recordsWith((records) => {
        records.splice(records.findIndex((record) => record.name.endsWith('data/0')), 1);
      }),
      /storage record "archive\/data\/0" of tensor "w" is missing/,
    ],
    [
      'short storage record',
      recordsWith((records) => {
        const record = records.find((r) => r.name.endsWith('data/0'))!;
        record.data = record.data.subarray(0, 12);
      }),
      /storage "0" contains 12 bytes but its 4 F32 elements need 16/,
    ],
    [
      'view outside its storage',
      (target) => torchSave(target, [['w', { storage, shape: [2, 2], offset: 1 }]]),
      /tensor "w" .* reaches element 5 of a storage with 4/,
    ],
    [
      'TorchScript archive',
      recordsWith((records) => {
        records.push({ name: 'archive/constants.pkl', data: stateDictPickle([]).pickle });
      }),
      /TorchScript/,
    ],
    ['zip without data.pkl', (target) => writeZip(target, [{ name: 'archive/version', data: Buffer.from('3\n') }]), /no data\.pkl/],
  ];

  it.each(cases)('%s gives a CheckpointError', (_name, build, pattern) => {
    const target = file(build);
    let caught: unknown;
    try {
      PyTorchFile.open(target).close();
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(CheckpointError);
    expect((caught as Error).message).toContain(target);
    expect((caught as Error).message).toMatch(pattern);
  });

  it('corrupt storage bytes fail the CRC check on read', () => {
    const target = file((t) => torchSave(t, tensors));
    const bytes = fs.readFileSync(target);
    // the storage record contains float32 1, 2, 3, 4; flip a bit of the 1.0
    const at = bytes.indexOf(Buffer.from(new Float32Array([1, 2]).buffer));
    bytes[at] ^= 1;
    fs.writeFileSync(target, bytes);

    const reader = PyTorchFile.open(target);
    expect(() => reader.read('w')).toThrow(CheckpointError);
    expect(() => reader.read('w')).toThrow(/CRC-32/);
    reader.close();

    // without the check the flipped bit comes through
    const unchecked = PyTorchFile.open(target, { verifyCrc: false });
    const values = Array.from(unchecked.read('w').data as Float32Array);
    expect(values[0]).not.toBe(1);
    expect(values.slice(1)).toEqual([2, 3, 4]);
    unchecked.close();
  });

  it('missing file gives a CheckpointError', () => {
    const missing = path.join(temporaryDir(), 'absent.bin');
    expect(() => PyTorchFile.open(missing)).toThrow(CheckpointError);
  });
});
