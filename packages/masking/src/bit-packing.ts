/**
 * Binary masks packed 8 entries per byte: entry `i` of the row-major flattened mask is bit
 * `i % 8` (least significant bit first) of byte `floor(i / 8)`, as NumPy's
 * `packbits(..., bitorder="little")` lays them out. Unused bits of the last byte are 0.
 */
import { formatShape, InvalidInputError, numel } from '@modularevo/core-tensor';

/** A binary mask of one parameter: 1 keeps the weight, 0 removes it. */
export interface BinaryMask {
  /** Shape of the parameter the mask covers, row-major. */
  shape: number[];
  /** `ceil(numel(shape) / 8)` bytes, least significant bit first. */
  bits: Uint8Array;
}

// Number of set bits of every byte value.
const POPCOUNT = new Uint8Array(256);
for (let byte = 1; byte < 256; byte++) POPCOUNT[byte] = (byte & 1) + POPCOUNT[byte >> 1];

/** Returns the number of bytes a packed mask of `entries` entries takes. */
export function packedByteLength(entries: number): number {
  return Math.ceil(entries / 8);
}

/**
 * Packs a mask from per-entry values: an entry is kept when its value is greater than 0, so
 * scores can be packed directly (0, -0 and NaN are removed). Throws an InvalidInputError when
 * the number of values does not match `shape`.
 */
export function packMask(values: ArrayLike<number>, shape: readonly number[]): BinaryMask {
  const entries = numel(shape);
  if (values.length !== entries) {
    throw new InvalidInputError(`Cannot pack ${values.length} mask values into shape ${formatShape(shape)} (${entries} entries)`);
  }
  const bits = new Uint8Array(packedByteLength(entries));
  for (let i = 0; i < entries; i++) {
    if (values[i] > 0) bits[i >> 3] |= 1 << (i & 7);
  }
  return { shape: [...shape], bits };
}

/** Unpacks a mask to one byte per entry (0 or 1), row-major. */
export function unpackMask(mask: BinaryMask): Uint8Array {
  const entries = numel(mask.shape);
  const out = new Uint8Array(entries);
  for (let i = 0; i < entries; i++) out[i] = (mask.bits[i >> 3] >> (i & 7)) & 1;
  return out;
}

/** Unpacks a mask to float32 0/1 values, row-major, ready to multiply a weight or gradient. */
export function maskToFloat32(mask: BinaryMask): Float32Array {
  const entries = numel(mask.shape);
  const out = new Float32Array(entries);
  for (let i = 0; i < entries; i++) out[i] = (mask.bits[i >> 3] >> (i & 7)) & 1;
  return out;
}

/** Returns whether entry `index` (row-major) of the mask is kept. */
export function isRetained(mask: BinaryMask, index: number): boolean {
  return ((mask.bits[index >> 3] >> (index & 7)) & 1) === 1;
}

/** Returns the number of kept entries. */
export function countRetained(mask: BinaryMask): number {
  let count = 0;
  for (const byte of mask.bits) count += POPCOUNT[byte];
  return count;
}

/** Returns the number of entries kept in both masks, which must have the same shape. */
export function countRetainedInBoth(a: BinaryMask, b: BinaryMask): number {
  let count = 0;
  for (let i = 0; i < a.bits.length; i++) count += POPCOUNT[a.bits[i] & b.bits[i]];
  return count;
}

/** Returns the number of entries kept in either mask, which must have the same shape. */
export function countRetainedInEither(a: BinaryMask, b: BinaryMask): number {
  let count = 0;
  for (let i = 0; i < a.bits.length; i++) count += POPCOUNT[a.bits[i] | b.bits[i]];
  return count;
}

/**
 * Returns a description of what is wrong with the packed layout of `mask` (a byte count that
 * does not fit its shape, or set bits past the last entry), or undefined when it is valid.
 */
export function packedLayoutProblem(mask: BinaryMask): string | undefined {
  const entries = numel(mask.shape);
  const expected = packedByteLength(entries);
  if (mask.bits.length !== expected) {
    return `${mask.bits.length} packed bytes do not fit shape ${formatShape(mask.shape)}, which needs ${expected} bytes for ${entries} entries`;
  }
  const used = entries % 8;
  if (used !== 0 && mask.bits[expected - 1] >> used !== 0) {
    return `bits past the last of ${entries} entries are set`;
  }
  return undefined;
}
