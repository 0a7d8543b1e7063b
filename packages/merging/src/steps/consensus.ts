/**
 * TIES sign election and disjoint mean over the trimmed, scaled task vectors of one tensor
 * (one row per model). Sums run in float32 from the first model to the last, as the original.
 */

/** Counts of elected signs over all merged entries, from which the majority sign follows. */
export interface SignCounts {
  positive: number;
  negative: number;
}

/** Writes the float32 sum over `rows` of each entry into `out`. */
export function sumRows(rows: readonly Float32Array[], out: Float32Array): void {
  out.set(rows[0]);
  for (let row = 1; row < rows.length; row++) {
    const values = rows[row];
    for (let i = 0; i < out.length; i++) out[i] = out[i] + values[i];
  }
}

/** Adds the signs of `sums` to `counts` (zero sums count for neither). */
export function countSigns(sums: Float32Array, counts: SignCounts): void {
  // `+(condition)` is a 0/1 number without a branch; random signs defeat branch prediction
  let positive = 0;
  let negative = 0;
  for (let i = 0; i < sums.length; i++) {
    positive += +(sums[i] > 0);
    negative += +(sums[i] < 0);
  }
  counts.positive += positive;
  counts.negative += negative;
}

/**
 * Returns the sign that entries whose sum is exactly zero take: the sign of the sum of all elected
 * signs. It can itself be 0, and then nothing is kept at those entries.
 */
export function majoritySign(counts: SignCounts): number {
  return Math.sign(counts.positive - counts.negative);
}

/**
 * Writes the TIES merge of the trimmed, scaled `rows` into `out`. Per entry, the elected sign is
 * the sign of the float32 sum over rows, and `majority` where that sum is zero. The result is the
 * mean of the rows whose value strictly has the elected sign, or 0 when none has. As in the
 * original, the agreeing values are summed in float32 from the first row to the last.
 */
export function disjointMerge(rows: readonly Float32Array[], majority: number, out: Float32Array): void {
  if (rows.length === 2) {
    disjointMergeOfTwo(rows[0], rows[1], majority, out);
    return;
  }
  const first = rows[0];
  const rowCount = rows.length;
  for (let i = 0; i < out.length; i++) {
    // elected sign
    let sum = first[i];
    for (let row = 1; row < rowCount; row++) sum = Math.fround(sum + rows[row][i]);
    const sign = electedSign(sum, majority);

    // mean of the agreeing values
    let agreeing = 0;
    let count = 0;
    for (let row = 0; row < rowCount; row++) {
      const value = rows[row][i];
      const agrees = +(value * sign > 0);
      agreeing = Math.fround(agreeing + value * agrees);
      count += agrees;
    }
    out[i] = count > 1 ? agreeing / count : agreeing;
  }
}

/**
 * Computes disjointMerge for two rows, the common case, with the row loop unrolled. In V8 this is
 * about twice as fast as the general loop, and the tests check that both give equal values.
 */
export function disjointMergeOfTwo(first: Float32Array, second: Float32Array, majority: number, out: Float32Array): void {
  for (let i = 0; i < out.length; i++) {
    const a = first[i];
    const b = second[i];
    const sign = electedSign(Math.fround(a + b), majority);
    const aAgrees = +(a * sign > 0);
    const bAgrees = +(b * sign > 0);
    const agreeing = Math.fround(a * aAgrees + b * bAgrees);
    out[i] = aAgrees + bAgrees > 1 ? agreeing / 2 : agreeing;
  }
}

/** Returns the sign of `sum`, or `majority` when it is zero, without branching. */
function electedSign(sum: number, majority: number): number {
  return +(sum > 0) - +(sum < 0) + +(sum === 0) * majority;
}
