/**
 * Compressed sparse rows (CSR) of a masked weight matrix, in the PyTorch layout `[out, in]`:
 * row `o` contains the kept entries of output feature `o`.
 */
import { formatShape, InvalidInputError } from '@modularevo/core-tensor';

/** A sparse matrix `[rows, cols]` in compressed sparse rows. */
export interface CsrMatrix {
  rows: number;
  cols: number;
  /** `[rows + 1]`: row `r` contains entries `rowPtr[r]` to `rowPtr[r + 1] - 1`. */
  rowPtr: Int32Array;
  /** `[nnz]` column of each entry, ascending within a row. */
  colIdx: Int32Array;
  /** `[nnz]` value of each entry. */
  values: Float32Array;
}

/**
 * Builds the CSR form of `weight * mask` for a row-major `[rows, cols]` weight. An entry is kept
 * where the mask is 1 (every entry when `mask` is undefined) and the weight is not zero, because
 * a zero weight contributes nothing to the product either way.
 *
 * @param weight - `[rows, cols]` row-major float32 values
 * @param mask - one byte per entry, 0 or 1, row-major (as masking's `unpackMask` returns)
 * @throws InvalidInputError when the lengths do not fit `[rows, cols]`.
 */
export function csrFromMasked(weight: Float32Array, rows: number, cols: number, mask?: Uint8Array): CsrMatrix {
  const entries = rows * cols;
  if (weight.length !== entries || (mask && mask.length !== entries)) {
    throw new InvalidInputError(
      `Cannot build a sparse matrix of shape ${formatShape([rows, cols])} from ${weight.length} weights and ${mask?.length ?? 'no'} mask entries`,
    );
  }

  // count first, so the arrays are allocated once at their final size
  let nnz = 0;
  for (let i = 0; i < entries; i++) if ((!mask || mask[i] === 1) && weight[i] !== 0) nnz++;

  const rowPtr = new Int32Array(rows + 1);
  const colIdx = new Int32Array(nnz);
  const values = new Float32Array(nnz);
  let k = 0;
  for (let r = 0; r < rows; r++) {
    for (let c = 0, i = r * cols; c < cols; c++, i++) {
      if ((mask && mask[i] !== 1) || weight[i] === 0) continue;
      colIdx[k] = c;
      values[k] = weight[i];
      k++;
    }
    rowPtr[r + 1] = k;
  }
  return { rows, cols, rowPtr, colIdx, values };
}

/** Returns the dense row-major `[rows, cols]` values of `matrix` (zeros where it has no entry). */
export function csrToDense(matrix: CsrMatrix): Float32Array {
  const dense = new Float32Array(matrix.rows * matrix.cols);
  for (let r = 0; r < matrix.rows; r++) {
    for (let k = matrix.rowPtr[r]; k < matrix.rowPtr[r + 1]; k++) dense[r * matrix.cols + matrix.colIdx[k]] = matrix.values[k];
  }
  return dense;
}

/** Returns the number of stored entries. */
export function csrNonzeros(matrix: CsrMatrix): number {
  return matrix.rowPtr[matrix.rows];
}
