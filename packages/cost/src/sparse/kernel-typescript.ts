/**
 * The portable sparse product, for machines where the native addon could not be built: correct
 * on every platform, and several times slower than the native kernels (bench/dense-vs-sparse.ts
 * prints both).
 */
import type { CsrMatrix } from './csr';

/**
 * Computes `y [tokens, rows] = x [tokens, cols] W^T + bias` for a CSR weight `W [rows, cols]`,
 * one dot product of a token row with each sparse weight row.
 */
export function spmmTypeScript(w: CsrMatrix, x: Float32Array, tokens: number, bias: Float32Array | undefined, y: Float32Array): void {
  const { rows, cols, rowPtr, colIdx, values } = w;
  for (let t = 0; t < tokens; t++) {
    const xOffset = t * cols;
    const yOffset = t * rows;
    for (let r = 0; r < rows; r++) {
      let sum = 0;
      for (let k = rowPtr[r]; k < rowPtr[r + 1]; k++) sum += values[k] * x[xOffset + colIdx[k]];
      y[yOffset + r] = Math.fround(sum + (bias ? bias[r] : 0));
    }
  }
}
