/** Wall-clock timing of repeated runs, summarised by the median. */

/** Returns the median of `values` (the mean of the two middle ones for an even count), NaN for none. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Runs `fn` once and returns its wall time in milliseconds. */
export async function timeMs(fn: () => unknown): Promise<number> {
  const started = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - started) / 1e6;
}

/** Times of one path: every repeat's mean time per batch, and their median, in milliseconds. */
export interface PathTiming {
  /** Median over repeats of the mean time per batch. */
  medianMsPerBatch: number;
  minMsPerBatch: number;
  maxMsPerBatch: number;
  /** Mean time per batch of every timed repeat, in run order. */
  repeatsMsPerBatch: number[];
}

/** Summarises the per-batch times of the repeats of one path. */
export function summarizeTiming(repeatsMsPerBatch: number[]): PathTiming {
  return {
    medianMsPerBatch: median(repeatsMsPerBatch),
    minMsPerBatch: Math.min(...repeatsMsPerBatch),
    maxMsPerBatch: Math.max(...repeatsMsPerBatch),
    repeatsMsPerBatch,
  };
}
