/**
 * Dense float64 linear algebra for RegMean, on row-major Float64Arrays. Matrices are small
 * (hidden size squared), so plain loops ordered for contiguous access suffice.
 */

/**
 * Factors the symmetric positive definite `n x n` matrix `a` as `L L^T` in place (lower triangle)
 * and returns false when `a` is not positive definite.
 */
export function choleskyInPlace(a: Float64Array, n: number): boolean {
  for (let j = 0; j < n; j++) {
    const rowJ = j * n;

    // diagonal
    let diagonal = a[rowJ + j];
    for (let k = 0; k < j; k++) diagonal -= a[rowJ + k] * a[rowJ + k];
    if (!(diagonal > 0)) return false;
    const pivot = Math.sqrt(diagonal);
    a[rowJ + j] = pivot;

    // column below the diagonal
    for (let i = j + 1; i < n; i++) {
      const rowI = i * n;
      let value = a[rowI + j];
      for (let k = 0; k < j; k++) value -= a[rowI + k] * a[rowJ + k];
      a[rowI + j] = value / pivot;
    }
  }
  return true;
}

/** Solves `L L^T X = B` in place in `b` (`n x m`), given the Cholesky factor `l` from choleskyInPlace. */
export function choleskySolveInPlace(l: Float64Array, n: number, b: Float64Array, m: number): void {
  // forward substitution: L Y = B
  for (let i = 0; i < n; i++) {
    const rowI = i * m;
    for (let k = 0; k < i; k++) {
      const factor = l[i * n + k];
      if (factor === 0) continue;
      const rowK = k * m;
      for (let c = 0; c < m; c++) b[rowI + c] -= factor * b[rowK + c];
    }
    const pivot = l[i * n + i];
    for (let c = 0; c < m; c++) b[rowI + c] /= pivot;
  }

  // back substitution: L^T X = Y
  for (let i = n - 1; i >= 0; i--) {
    const rowI = i * m;
    for (let k = i + 1; k < n; k++) {
      const factor = l[k * n + i];
      if (factor === 0) continue;
      const rowK = k * m;
      for (let c = 0; c < m; c++) b[rowI + c] -= factor * b[rowK + c];
    }
    const pivot = l[i * n + i];
    for (let c = 0; c < m; c++) b[rowI + c] /= pivot;
  }
}

/** Adds `a (n x n) times b (n x m)` into `out (n x m)`. */
export function addMatMul(a: Float64Array, b: Float64Array, n: number, m: number, out: Float64Array): void {
  for (let i = 0; i < n; i++) {
    const rowOut = i * m;
    for (let k = 0; k < n; k++) {
      const factor = a[i * n + k];
      if (factor === 0) continue;
      const rowB = k * m;
      for (let c = 0; c < m; c++) out[rowOut + c] += factor * b[rowB + c];
    }
  }
}
