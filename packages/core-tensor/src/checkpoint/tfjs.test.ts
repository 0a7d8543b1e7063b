import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';

import { modelFixtures } from '@modularevo/test-support';

import { initBackend } from '../backend';
import { InvalidInputError } from '../errors';
import type { DType, TypedArray } from './dtype';
import { loadSafetensors } from './safetensors';
import type { RawTensor } from './state-dict';
import { fromTensor, fromTensorSync, stateDictFromVariables, toTensor, toTensors } from './tfjs';

function bytesOf(data: TypedArray): Buffer {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

beforeAll(async () => {
  await initBackend();
});

describe('toTensor', () => {
  const cases: [DType, tf.DataType, TypedArray, number[]][] = [
    ['F32', 'float32', new Float32Array([1.5, -2, 0]), [1.5, -2, 0]],
    ['F64', 'float32', new Float64Array([1.5, 1 + 2 ** -30, -3]), [1.5, 1, -3]],
    ['F16', 'float32', new Uint16Array([0x3c00, 0xc000, 0x3555]), [1, -2, 0.333251953125]],
    ['BF16', 'float32', new Uint16Array([0x3f80, 0xc040, 0x3eab]), [1, -3, 0.333984375]],
    ['I64', 'int32', new BigInt64Array([0n, -(2n ** 31n), 2n ** 31n - 1n]), [0, -(2 ** 31), 2 ** 31 - 1]],
    ['I32', 'int32', new Int32Array([7, -7, 0]), [7, -7, 0]],
    ['I16', 'int32', new Int16Array([-32768, 1, 32767]), [-32768, 1, 32767]],
    ['I8', 'int32', new Int8Array([-128, 0, 127]), [-128, 0, 127]],
    ['U8', 'int32', new Uint8Array([0, 128, 255]), [0, 128, 255]],
    ['BOOL', 'bool', new Uint8Array([1, 0, 1]), [1, 0, 1]],
  ];

  it.each(cases)('%s becomes %s', (dtype, tfDtype, data, expected) => {
    const tensor = toTensor({ dtype, shape: [3], data });
    expect(tensor.dtype).toBe(tfDtype);
    expect(tensor.shape).toEqual([3]);
    expect(Array.from(tensor.dataSync())).toEqual(expected);
    tensor.dispose();
  });

  it('rejects I64 values outside int32', () => {
    const raw: RawTensor = { dtype: 'I64', shape: [2], data: new BigInt64Array([1n, 2n ** 31n]) };
    expect(() => toTensor(raw, 'position_ids')).toThrow(InvalidInputError);
    expect(() => toTensor(raw, 'position_ids')).toThrow(/"position_ids" contains 2147483648 at index 1/);
  });

  it('does not share memory with the state dict', () => {
    const raw: RawTensor = { dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) };
    const tensor = toTensor(raw);
    (raw.data as Float32Array)[0] = 99;
    expect(Array.from(tensor.dataSync())).toEqual([1, 2]);

    const back = fromTensorSync(tensor);
    (back.data as Float32Array)[1] = 99;
    expect(Array.from(tensor.dataSync())).toEqual([1, 2]);
    tensor.dispose();
  });
});

describe('fromTensor', () => {
  it.each(modelFixtures().map(({ name, dir }) => [name, dir]))('%s weights round-trip bit for bit', async (_name, dir) => {
    const state = loadSafetensors(path.join(dir, 'model.safetensors'));
    const tensors = toTensors(state);

    const back = await stateDictFromVariables(tensors, (name) => state.get(name)!.dtype);
    expect([...back.keys()]).toEqual([...state.keys()]);
    for (const [name, raw] of state) {
      expect(back.get(name)!.shape).toEqual(raw.shape);
      expect(bytesOf(back.get(name)!.data).equals(bytesOf(raw.data))).toBe(true);
    }
    for (const tensor of tensors.values()) tensor.dispose();
  });

  const halves: [DType, TypedArray][] = [
    ['F16', new Uint16Array([0x3c00, 0x8000, 0x7c00, 0x0001, 0xfbff, 0x3555])],
    ['BF16', new Uint16Array([0x3f80, 0x8000, 0xff80, 0x0001, 0x7f7f, 0x3eab])],
  ];

  it.each(halves)('%s survives a float32 tensor unchanged', async (dtype, data) => {
    const tensor = toTensor({ dtype, shape: [2, 3], data });
    const asynchronous = await fromTensor(tensor, dtype);
    const synchronous = fromTensorSync(tensor, dtype);
    for (const back of [asynchronous, synchronous]) {
      expect(back.dtype).toBe(dtype);
      expect(back.shape).toEqual([2, 3]);
      expect(Array.from(back.data as Uint16Array)).toEqual(Array.from(data));
    }
    tensor.dispose();
  });

  it('chooses F32, I32 and BOOL by default', async () => {
    const tensors = [tf.tensor([1.5]), tf.tensor([3], [1], 'int32'), tf.tensor([true], [1], 'bool')];
    const back = await Promise.all(tensors.map((tensor) => fromTensor(tensor)));
    expect(back.map((raw) => raw.dtype)).toEqual(['F32', 'I32', 'BOOL']);
    tf.dispose(tensors);
  });

  it('widens and narrows integers with a range check', async () => {
    const ids = tf.tensor([0, 255, -1], [3], 'int32');
    expect(Array.from((await fromTensor(ids, 'I64')).data as BigInt64Array)).toEqual([0n, 255n, -1n]);
    expect(Array.from((await fromTensor(ids, 'I16')).data as Int16Array)).toEqual([0, 255, -1]);
    await expect(fromTensor(ids, 'U8', 'input_ids')).rejects.toThrow(/"input_ids" contains -1 at index 2, outside the U8 range/);
    ids.dispose();
  });

  it('rejects dtypes the tensor cannot hold', async () => {
    const weights = tf.tensor([1.5]);
    const mask = tf.tensor([true], [1], 'bool');
    await expect(fromTensor(weights, 'I32', 'w')).rejects.toThrow(InvalidInputError);
    expect(() => fromTensorSync(mask, 'F32', 'm')).toThrow(/Cannot store bool tensor "m" as F32/);
    expect(Array.from(fromTensorSync(mask, 'U8').data as Uint8Array)).toEqual([1]);
    tf.dispose([weights, mask]);
  });

  it('reads variables by name in map order', async () => {
    const variables = { 'b.weight': tf.variable(tf.tensor([1, 2])), 'a.bias': tf.variable(tf.tensor([3])) };
    const state = await stateDictFromVariables(variables, (name) => (name === 'a.bias' ? 'F16' : undefined));
    expect([...state.keys()]).toEqual(['b.weight', 'a.bias']);
    expect(state.get('b.weight')!.dtype).toBe('F32');
    expect(Array.from(state.get('a.bias')!.data as Uint16Array)).toEqual([0x4200]);
    tf.dispose(Object.values(variables));
  });
});
