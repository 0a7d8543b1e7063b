import { InvalidInputError } from '../errors';

/** Element types as safetensors names them. */
export type DType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

/** Typed array that holds the raw elements of each dtype (F16 and BF16 keep their bit patterns). */
export type TypedArray =
  | Float64Array
  | Float32Array
  | Uint16Array
  | BigInt64Array
  | Int32Array
  | Int16Array
  | Int8Array
  | Uint8Array;

/** Bytes per element. */
export const DTYPE_SIZE: Record<DType, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

/**
 * Order in which the safetensors serializer lays out tensors: by this rank, largest first, then
 * by name. It is the declaration order of the Rust `Dtype` enum, which keeps wide types aligned.
 */
export const DTYPE_RANK: Record<DType, number> = {
  BOOL: 0,
  U8: 1,
  I8: 2,
  I16: 5,
  F16: 7,
  BF16: 8,
  I32: 9,
  F32: 11,
  F64: 12,
  I64: 13,
};

/** Returns whether `name` is a dtype this project reads and writes. */
export function isDType(name: string): name is DType {
  return Object.prototype.hasOwnProperty.call(DTYPE_SIZE, name);
}

/** Returns a typed array of the right kind over `bytes` (which must be aligned for the dtype). */
export function typedArrayFor(dtype: DType, buffer: ArrayBuffer, byteOffset: number, length: number): TypedArray {
  switch (dtype) {
    case 'F64':
      return new Float64Array(buffer, byteOffset, length);
    case 'F32':
      return new Float32Array(buffer, byteOffset, length);
    case 'F16':
    case 'BF16':
      return new Uint16Array(buffer, byteOffset, length);
    case 'I64':
      return new BigInt64Array(buffer, byteOffset, length);
    case 'I32':
      return new Int32Array(buffer, byteOffset, length);
    case 'I16':
      return new Int16Array(buffer, byteOffset, length);
    case 'I8':
      return new Int8Array(buffer, byteOffset, length);
    case 'U8':
    case 'BOOL':
      return new Uint8Array(buffer, byteOffset, length);
  }
}

/** Allocates a zero-filled typed array for `length` elements of `dtype`. */
export function allocate(dtype: DType, length: number): TypedArray {
  return typedArrayFor(dtype, new ArrayBuffer(length * DTYPE_SIZE[dtype]), 0, length);
}

// Shared scratch views for bit-level float conversions.
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Converts IEEE half-precision bits to a number. */
export function f16BitsToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** Converts a number to IEEE half-precision bits, rounding to nearest even as PyTorch does. */
export function numberToF16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  let mantissa = x & 0x7fffff;

  // NaN and infinity
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);

  const e = exponent - 127 + 15;

  // overflow to infinity
  if (e >= 0x1f) return sign | 0x7c00;

  // subnormal half or zero: shift the implicit bit in and round to nearest even
  if (e <= 0) {
    if (e < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mantissa & ((1 << shift) - 1);
    let result = mantissa >>> shift;
    if (rest > half || (rest === half && (result & 1))) result += 1;
    return sign | result;
  }

  // normal half: round the 13 dropped bits to nearest even (a carry may bump the exponent)
  const rest = mantissa & 0x1fff;
  let result = (e << 10) | (mantissa >>> 13);
  if (rest > 0x1000 || (rest === 0x1000 && (result & 1))) result += 1;
  return sign | result;
}

/** Converts bfloat16 bits to a number. */
export function bf16BitsToNumber(bits: number): number {
  u32[0] = bits << 16;
  return f32[0];
}

/** Converts a number to bfloat16 bits, rounding to nearest even as PyTorch does. */
export function numberToBf16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0];
  if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) return (x >>> 16) | 0x40;
  const rounding = 0x7fff + ((x >>> 16) & 1);
  return ((x + rounding) >>> 16) & 0xffff;
}

/** Returns the elements of `data` (of `dtype`) as float32 values; F32 data is returned as is. */
export function toFloat32(dtype: DType, data: TypedArray): Float32Array {
  if (dtype === 'F32') return data as Float32Array;
  const out = new Float32Array(data.length);
  if (dtype === 'F16') {
    const bits = data as Uint16Array;
    for (let i = 0; i < bits.length; i++) out[i] = f16BitsToNumber(bits[i]);
  } else if (dtype === 'BF16') {
    const bits = data as Uint16Array;
    const wide = new Uint32Array(out.buffer);
    for (let i = 0; i < bits.length; i++) wide[i] = bits[i] << 16;
  } else if (dtype === 'I64') {
    const ints = data as BigInt64Array;
    for (let i = 0; i < ints.length; i++) out[i] = Number(ints[i]);
  } else {
    const numbers = data as Exclude<TypedArray, BigInt64Array>;
    for (let i = 0; i < numbers.length; i++) out[i] = numbers[i];
  }
  return out;
}

/** Converts float32 values to the raw elements of `dtype` (rounding to nearest even for halves). */
export function fromFloat32(dtype: DType, values: Float32Array): TypedArray {
  if (dtype === 'F32') return values;
  const out = allocate(dtype, values.length);
  if (dtype === 'F16') {
    const bits = out as Uint16Array;
    for (let i = 0; i < values.length; i++) bits[i] = numberToF16Bits(values[i]);
  } else if (dtype === 'BF16') {
    const bits = out as Uint16Array;
    for (let i = 0; i < values.length; i++) bits[i] = numberToBf16Bits(values[i]);
  } else if (dtype === 'F64') {
    (out as Float64Array).set(values);
  } else {
    throw new InvalidInputError(`Cannot convert float32 values to ${dtype}: only F64, F32, F16 and BF16 are float types`);
  }
  return out;
}
