import * as fs from 'fs';
import * as path from 'path';

import { fixture, modelFixtures, temporaryDir } from '@modularevo/test-support';

import { CheckpointError } from '../errors';
import { SafetensorsFile, SafetensorsWriter, loadSafetensors, saveSafetensors } from './safetensors';
import type { StateDict } from './state-dict';

function headerOf(file: string): { length: number; json: string } {
  const bytes = fs.readFileSync(file);
  const length = Number(bytes.readBigUInt64LE(0));
  return { length, json: bytes.subarray(8, 8 + length).toString('utf8') };
}

describe('safetensors round trip', () => {
  it.each(modelFixtures().map(({ name, dir }) => [name, dir]))('%s rewrites byte-identical', (_name, dir) => {
    const source = path.join(dir, 'model.safetensors');
    const file = SafetensorsFile.open(source);
    const state = file.readAll();
    const metadata = file.metadata();
    file.close();

    const out = path.join(temporaryDir(), 'model.safetensors');
    saveSafetensors(out, state, metadata);

    expect(Buffer.compare(fs.readFileSync(out), fs.readFileSync(source))).toBe(0);
  });

  it('writes sorted keys, 8-byte aligned header and reads back bit-identical', () => {
    const state: StateDict = new Map([
      ['z.weight', { dtype: 'F32', shape: [2, 3], data: new Float32Array([1, -2, 3.5, NaN, -0, 1e-30]) }],
      ['a.bias', { dtype: 'F16', shape: [3], data: new Uint16Array([0x3c00, 0x8000, 0x7c00]) }],
      ['m.ids', { dtype: 'I64', shape: [2], data: new BigInt64Array([5n, -(2n ** 40n)]) }],
      ['b.flag', { dtype: 'BOOL', shape: [1], data: new Uint8Array([1]) }],
      ['c.scalar', { dtype: 'F32', shape: [], data: new Float32Array([7]) }],
    ]);
    const out = path.join(temporaryDir(), 'x.safetensors');
    saveSafetensors(out, state);

    const { length, json } = headerOf(out);
    expect(length % 8).toBe(0);
    const keys = Object.keys(JSON.parse(json));
    expect(keys).toEqual(['__metadata__', 'm.ids', 'c.scalar', 'z.weight', 'a.bias', 'b.flag']);

    const back = loadSafetensors(out);
    for (const [name, tensor] of state) {
      const read = back.get(name)!;
      expect(read.dtype).toBe(tensor.dtype);
      expect(read.shape).toEqual(tensor.shape);
      expect(Buffer.from(read.data.buffer).equals(Buffer.from(tensor.data.buffer))).toBe(true);
    }
  });

  it('streaming writer accepts tensors in any order', () => {
    const out = path.join(temporaryDir(), 'stream.safetensors');
    const writer = new SafetensorsWriter(out, [
      { name: 'b', dtype: 'F32', shape: [2] },
      { name: 'a', dtype: 'F32', shape: [1] },
    ]);
    writer.write('b', { dtype: 'F32', data: new Float32Array([2, 3]) });
    writer.write('a', { dtype: 'F32', data: new Float32Array([1]) });
    expect(fs.existsSync(out)).toBe(false);
    writer.commit();

    const back = loadSafetensors(out);
    expect(Array.from(back.get('a')!.data as Float32Array)).toEqual([1]);
    expect(Array.from(back.get('b')!.data as Float32Array)).toEqual([2, 3]);
  });

  it('leaves no file when a tensor is never written', () => {
    const dir = temporaryDir();
    const writer = new SafetensorsWriter(path.join(dir, 'x.safetensors'), [{ name: 'a', dtype: 'F32', shape: [1] }]);
    expect(() => writer.commit()).toThrow(/never written/);
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});

describe('safetensors bad input', () => {
  const source = path.join(fixture('models'), modelFixtures()[0].name, 'model.safetensors');

  function writeVariant(bytes: Buffer): string {
    const file = path.join(temporaryDir(), 'bad.safetensors');
    fs.writeFileSync(file, bytes);
    return file;
  }

  function withHeader(header: object, dataBytes: number): Buffer {
    let json = JSON.stringify(header);
    json += ' '.repeat((8 - (json.length % 8)) % 8);
    const prefix = Buffer.alloc(8);
    prefix.writeBigUInt64LE(BigInt(json.length));
    return Buffer.concat([prefix, Buffer.from(json), Buffer.alloc(dataBytes)]);
  }

  const cases: [string, () => Buffer, RegExp][] = [
    ['truncated data', () => fs.readFileSync(source).subarray(0, fs.statSync(source).size - 100), /truncated/],
    ['truncated header', () => fs.readFileSync(source).subarray(0, 20), /runs past the end/],
    ['tiny file', () => Buffer.alloc(3), /too short/],
    ['header not JSON', () => Buffer.concat([Buffer.from([4, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{{{{')]), /not valid JSON/],
    ['unknown dtype', () => withHeader({ a: { dtype: 'Q4', shape: [1], data_offsets: [0, 1] } }, 1), /unknown or unsupported dtype "Q4"/],
    [
      'overlapping offsets',
      () =>
        withHeader(
          {
            a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
            b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
          },
          12,
        ),
      /overlaps/,
    ],
    ['offsets past the end', () => withHeader({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, 8), /truncated/],
    ['size mismatch', () => withHeader({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, 8), /needs 12 bytes/],
  ];

  it.each(cases)('%s gives a clear error', (_name, build, pattern) => {
    const file = writeVariant(build());
    let caught: unknown;
    try {
      SafetensorsFile.open(file);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(CheckpointError);
    expect((caught as Error).message).toContain(file);
    expect((caught as Error).message).toMatch(pattern);
  });
});
