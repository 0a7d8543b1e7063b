import { InvalidInputError } from '../errors';
import { DTYPE_SIZE, type DType, type TypedArray } from './dtype';

/** One tensor held in host memory: its dtype, shape (row-major) and raw elements. */
export interface RawTensor {
  dtype: DType;
  shape: number[];
  data: TypedArray;
}

/** Shape and dtype of a tensor whose data has not been read. */
export interface TensorInfo {
  dtype: DType;
  shape: number[];
}

/**
 * Parameters by name, in checkpoint order, with Hugging Face names (`transformer.h.0.attn...`).
 * A `Map` keeps insertion order, which is the order writers follow unless they sort.
 */
export type StateDict = Map<string, RawTensor>;

/** Returns the number of elements of a tensor with this shape. */
export function numel(shape: readonly number[]): number {
  let count = 1;
  for (const size of shape) count *= size;
  return count;
}

/** Returns the number of bytes a tensor of this dtype and shape takes. */
export function byteSize(info: TensorInfo): number {
  return numel(info.shape) * DTYPE_SIZE[info.dtype];
}

/** Formats a shape as `[768, 3072]` for messages. */
export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** Returns whether two shapes are equal. */
export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((size, i) => size === b[i]);
}

/** Creates a RawTensor after checking that the data length matches the shape. */
export function rawTensor(dtype: DType, shape: number[], data: TypedArray): RawTensor {
  if (data.length !== numel(shape)) {
    throw new InvalidInputError(
      `Tensor data has ${data.length} elements but shape ${formatShape(shape)} needs ${numel(shape)}`,
    );
  }
  return { dtype, shape: [...shape], data };
}
