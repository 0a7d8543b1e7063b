/**
 * Helpers for strided views as PyTorch stores them: element `[i0, i1, ...]` of a view lives at
 * storage index `offset + i0 * stride[0] + i1 * stride[1] + ...`.
 */

/** Returns whether a view with this shape and stride is laid out row-major without gaps. */
export function isRowMajor(shape: readonly number[], stride: readonly number[]): boolean {
  let expected = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] === 0) return true;
    // the stride of a dimension of size 1 is never used, so any value is fine
    if (shape[d] !== 1 && stride[d] !== expected) return false;
    expected *= shape[d];
  }
  return true;
}

/** Returns how many storage elements a view touches from its first element to its last (0 when empty). */
export function viewSpan(shape: readonly number[], stride: readonly number[]): number {
  let last = 0;
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 0) return 0;
    last += (shape[d] - 1) * stride[d];
  }
  return last + 1;
}

/**
 * Copies the elements of a strided view into a new row-major buffer. `source` contains the
 * storage from the view's first element on; each element is `elementSize` bytes and is copied
 * as whole 8-, 16- or 32-bit words, so float bit patterns (NaN payloads included) survive.
 */
export function gatherRowMajor(
  source: Uint8Array,
  elementSize: number,
  shape: readonly number[],
  stride: readonly number[],
  count: number,
): Uint8Array {
  const out = new Uint8Array(count * elementSize);
  if (count === 0) return out;
  const wordSize = Math.min(elementSize, 4);
  const wordsPerElement = elementSize / wordSize;
  const from = words(source, wordSize);
  const to = words(out, wordSize);

  // the innermost dimension is a tight loop; the outer ones advance like an odometer
  const rank = shape.length;
  const inner = rank > 0 ? shape[rank - 1] : 1;
  const innerStep = (rank > 0 ? stride[rank - 1] : 0) * wordsPerElement;
  const outerCount = count / inner;
  const index = new Array<number>(Math.max(rank - 1, 0)).fill(0);
  let base = 0;
  let target = 0;
  for (let row = 0; row < outerCount; row++) {
    let at = base * wordsPerElement;
    if (wordsPerElement === 1) {
      for (let j = 0; j < inner; j++, at += innerStep) to[target++] = from[at];
    } else {
      for (let j = 0; j < inner; j++, at += innerStep) {
        to[target++] = from[at];
        to[target++] = from[at + 1];
      }
    }

    for (let d = rank - 2; d >= 0; d--) {
      index[d]++;
      base += stride[d];
      if (index[d] < shape[d]) break;
      base -= stride[d] * shape[d];
      index[d] = 0;
    }
  }
  return out;
}

/** Reverses the byte order of every `elementSize`-byte element of `bytes`, in place. */
export function swapByteOrder(bytes: Uint8Array, elementSize: number): void {
  if (elementSize === 1) return;
  for (let start = 0; start < bytes.length; start += elementSize) {
    for (let low = start, high = start + elementSize - 1; low < high; low++, high--) {
      const byte = bytes[low];
      bytes[low] = bytes[high];
      bytes[high] = byte;
    }
  }
}

function words(bytes: Uint8Array, wordSize: number): Uint8Array | Uint16Array | Uint32Array {
  const length = bytes.byteLength / wordSize;
  if (wordSize === 1) return bytes;
  if (wordSize === 2) return new Uint16Array(bytes.buffer, bytes.byteOffset, length);
  return new Uint32Array(bytes.buffer, bytes.byteOffset, length);
}
