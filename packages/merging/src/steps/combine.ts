/**
 * Element-wise float32 steps shared by the merge methods. Each operation rounds to float32 after
 * every arithmetic step, in the order the original PyTorch code evaluates it, so results match it
 * bit for bit. (A Float32Array store rounds a double result; a single double operation on float32
 * inputs rounded once to float32 equals the float32 operation.)
 */

/**
 * Turns each row of fine-tuned values into task vector entries in place (`row[i] - base[i]`)
 * and adds each row's sum of squared entries to `squares` (float64).
 */
export function subtractBaseRows(base: Float32Array, rows: readonly Float32Array[], squares: number[]): void {
  rows.forEach((row, index) => (squares[index] += subtractBase(row, base)));
}

/** Adds each row's sum of squared differences to the base into `squares` (float64), without changing the rows. */
export function squaredDistances(base: Float32Array, rows: readonly Float32Array[], squares: number[]): void {
  rows.forEach((row, index) => {
    let sum = 0;
    for (let i = 0; i < row.length; i++) {
      const delta = Math.fround(row[i] - base[i]);
      sum += delta * delta;
    }
    squares[index] += sum;
  });
}

/** Replaces `values` by `values - base` in place and returns the float64 sum of squared results. */
function subtractBase(values: Float32Array, base: Float32Array): number {
  // two accumulators halve the dependency chain of the sum
  let even = 0;
  let odd = 0;
  const last = values.length - 1;
  for (let i = 0; i < last; i += 2) {
    const a = Math.fround(values[i] - base[i]);
    const b = Math.fround(values[i + 1] - base[i + 1]);
    values[i] = a;
    values[i + 1] = b;
    even += a * a;
    odd += b * b;
  }
  if (values.length % 2 === 1) {
    const a = Math.fround(values[last] - base[last]);
    values[last] = a;
    even += a * a;
  }
  return even + odd;
}

/** Returns the sum of squares of `values` in float64. */
export function sumOfSquares(values: Float32Array): number {
  let even = 0;
  let odd = 0;
  const last = values.length - 1;
  for (let i = 0; i < last; i += 2) {
    even += values[i] * values[i];
    odd += values[i + 1] * values[i + 1];
  }
  if (values.length % 2 === 1) even += values[last] * values[last];
  return even + odd;
}

/**
 * Writes `base + scaling * sum_rows(coefficient * row)` into `out` (which may be `base`), using
 * `rows[0]` as the accumulator: each row scaled in float32, the scaled rows summed from first to
 * last, then added to the base, as the original task arithmetic evaluates it.
 */
export function addWeightedSum(
  base: Float32Array,
  rows: readonly Float32Array[],
  coefficients: readonly number[],
  scaling: number,
  out: Float32Array,
): void {
  const sum = rows[0];
  const firstScale = Math.fround(coefficients[0]);
  for (let i = 0; i < sum.length; i++) sum[i] = sum[i] * firstScale;
  for (let row = 1; row < rows.length; row++) {
    const values = rows[row];
    const scale = Math.fround(coefficients[row]);
    for (let i = 0; i < sum.length; i++) sum[i] = sum[i] + Math.fround(values[i] * scale);
  }
  addScaled(base, sum, scaling, out);
}

/** Writes `base + scaling * delta` into `out` (which may be `base` or `delta`). */
export function addScaled(base: Float32Array, delta: Float32Array, scaling: number, out: Float32Array): void {
  if (scaling === 1) {
    for (let i = 0; i < out.length; i++) out[i] = base[i] + delta[i];
    return;
  }
  const scale = Math.fround(scaling);
  for (let i = 0; i < out.length; i++) out[i] = base[i] + Math.fround(scale * delta[i]);
}

/** Writes the mean over `rows` into `out`: a float32 sum from the first row to the last, divided by the row count. */
export function meanRows(rows: readonly Float32Array[], out: Float32Array): void {
  if (out !== rows[0]) out.set(rows[0]);
  for (let row = 1; row < rows.length; row++) {
    const values = rows[row];
    for (let i = 0; i < out.length; i++) out[i] = out[i] + values[i];
  }
  const count = rows.length;
  if (count === 1) return;
  for (let i = 0; i < out.length; i++) out[i] = out[i] / count;
}

/** Returns the index of the first NaN or infinite entry, or -1. */
export function firstNonFinite(values: Float32Array): number {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) return i;
  }
  return -1;
}
