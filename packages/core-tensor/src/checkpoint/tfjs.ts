/**
 * Conversion between host tensors (`RawTensor`, as checkpoints store them) and TensorFlow.js
 * tensors. tfjs computes in float32, int32 and bool only, so wider or narrower types are
 * converted on the way in and restored on the way out when the caller names the dtype.
 */
import * as tf from '@tensorflow/tfjs-core';

import { InvalidInputError } from '../errors';
import { allocate, fromFloat32, toFloat32, type DType, type TypedArray } from './dtype';
import type { RawTensor, StateDict } from './state-dict';

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

/**
 * Creates a tfjs tensor from `raw`: F64, F32, F16 and BF16 become float32; I64, I32, I16, I8
 * and U8 become int32; BOOL becomes bool. `name` labels errors. Throws an InvalidInputError when
 * an I64 value does not fit in int32.
 */
export function toTensor(raw: RawTensor, name = 'tensor'): tf.Tensor {
  // every branch hands tfjs a fresh array (see ownCopy)
  switch (raw.dtype) {
    case 'F64':
    case 'F32':
    case 'F16':
    case 'BF16':
      return tf.tensor(ownCopy(toFloat32(raw.dtype, raw.data), raw.data), raw.shape, 'float32');
    case 'I64':
      return tf.tensor(int64ToInt32(raw.data as BigInt64Array, name), raw.shape, 'int32');
    case 'I32':
      return tf.tensor((raw.data as Int32Array).slice(), raw.shape, 'int32');
    case 'I16':
    case 'I8':
    case 'U8':
      return tf.tensor(Int32Array.from(raw.data as Int16Array | Int8Array | Uint8Array), raw.shape, 'int32');
    case 'BOOL':
      return tf.tensor((raw.data as Uint8Array).slice(), raw.shape, 'bool');
  }
}

/** Creates tfjs tensors for every entry of a state dict; the caller disposes them. */
export function toTensors(state: StateDict): Map<string, tf.Tensor> {
  const tensors = new Map<string, tf.Tensor>();
  for (const [name, raw] of state) tensors.set(name, toTensor(raw, name));
  return tensors;
}

/**
 * Downloads `t` into a RawTensor of `dtype` (default: F32 for float32, I32 for int32, BOOL for
 * bool). Float tensors can become F64, F32, F16 or BF16 (halves rounded to nearest even); int32
 * tensors any integer dtype; bool tensors BOOL or U8. Throws an InvalidInputError for any other
 * pair and for integers outside the target range.
 */
export async function fromTensor(t: tf.Tensor, dtype?: DType, name = 'tensor'): Promise<RawTensor> {
  return convert(t.dtype, t.shape, await t.data(), dtype, name);
}

/** Like `fromTensor`, but reads the values synchronously (blocks on GPU backends). */
export function fromTensorSync(t: tf.Tensor, dtype?: DType, name = 'tensor'): RawTensor {
  return convert(t.dtype, t.shape, t.dataSync(), dtype, name);
}

/**
 * Downloads named tfjs tensors or variables into a state dict, in the map's order. `dtypeOf`
 * chooses each entry's dtype (for example the dtype the base checkpoint stored); entries it
 * leaves undefined get the default of `fromTensor`.
 */
export async function stateDictFromVariables(
  tensors: Map<string, tf.Tensor> | Record<string, tf.Tensor>,
  dtypeOf: (name: string) => DType | undefined = () => undefined,
): Promise<StateDict> {
  const entries = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  const state: StateDict = new Map();
  for (const [name, tensor] of entries) state.set(name, await fromTensor(tensor, dtypeOf(name), name));
  return state;
}

function convert(
  source: tf.DataType,
  shape: number[],
  values: tf.DataTypeMap[tf.NumericDataType] | tf.DataTypeMap['string'],
  requested: DType | undefined,
  name: string,
): RawTensor {
  if (source === 'float32') {
    const dtype = requested ?? 'F32';
    if (dtype !== 'F64' && dtype !== 'F32' && dtype !== 'F16' && dtype !== 'BF16') {
      throw new InvalidInputError(`Cannot store float32 tensor "${name}" as ${dtype}: use F32, F16, BF16 or F64`);
    }
    return { dtype, shape: [...shape], data: ownCopy(fromFloat32(dtype, values as Float32Array), values) };
  }
  if (source === 'int32') {
    const dtype = requested ?? 'I32';
    return { dtype, shape: [...shape], data: fromInt32(values as Int32Array, dtype, name) };
  }
  if (source === 'bool') {
    const dtype = requested ?? 'BOOL';
    if (dtype !== 'BOOL' && dtype !== 'U8') {
      throw new InvalidInputError(`Cannot store bool tensor "${name}" as ${dtype}: use BOOL or U8`);
    }
    return { dtype, shape: [...shape], data: Uint8Array.from(values as Uint8Array) };
  }
  throw new InvalidInputError(`Cannot store ${source} tensor "${name}" in a checkpoint: only float32, int32 and bool tensors convert`);
}

/**
 * Returns `converted`, copied when it is still the `original` array. The CPU backend keeps the
 * array a tensor was made from and returns its own store from `dataSync`, so sharing either
 * would let a later write to a state dict change a tensor, or the other way round.
 */
function ownCopy<T extends TypedArray>(converted: T, original: unknown): T {
  return converted === original ? (converted.slice() as T) : converted;
}

function int64ToInt32(values: BigInt64Array, name: string): Int32Array {
  const out = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (value < INT32_MIN || value > INT32_MAX) {
      throw new InvalidInputError(
        `I64 tensor "${name}" contains ${value} at index ${i}, outside the int32 range that tfjs computes in`,
      );
    }
    out[i] = Number(value);
  }
  return out;
}

const INTEGER_RANGES: Partial<Record<DType, [number, number]>> = {
  I64: [-Infinity, Infinity],
  I32: [INT32_MIN, INT32_MAX],
  I16: [-(2 ** 15), 2 ** 15 - 1],
  I8: [-128, 127],
  U8: [0, 255],
};

function fromInt32(values: Int32Array, dtype: DType, name: string): TypedArray {
  const range = INTEGER_RANGES[dtype];
  if (!range) throw new InvalidInputError(`Cannot store int32 tensor "${name}" as ${dtype}: use I64, I32, I16, I8 or U8`);
  if (dtype === 'I32') return Int32Array.from(values);

  const out = allocate(dtype, values.length);
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (value < range[0] || value > range[1]) {
      throw new InvalidInputError(`int32 tensor "${name}" contains ${value} at index ${i}, outside the ${dtype} range`);
    }
    if (dtype === 'I64') (out as BigInt64Array)[i] = BigInt(value);
    else (out as Int16Array | Int8Array | Uint8Array)[i] = value;
  }
  return out;
}
