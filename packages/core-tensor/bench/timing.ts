/**
 * Timing helpers shared by the kernel benchmarks.
 */
import * as tf from '@tensorflow/tfjs-core';

const RUNS = process.env.MODULAREVO_BENCH_QUICK === '1' ? 1 : 3;

/**
 * Returns the best wall time of `run` in milliseconds over a few runs, after one warm-up run that
 * also grows the wasm heap. Each run is a `tf.tidy` scope, and its output is read back (one
 * element) so that asynchronous backends finish, then disposed.
 */
export function bestMs(run: () => tf.TensorContainer, runs = RUNS): number {
  tf.dispose(tf.tidy(run));
  let best = Infinity;
  for (let i = 0; i < runs; i++) {
    const started = process.hrtime.bigint();
    const result = tf.tidy(run);
    const first = (Array.isArray(result) ? result[0] : result) as tf.Tensor;
    if (first instanceof tf.Tensor) tf.backend().readSync(first.dataId, 0, 1);
    best = Math.min(best, Number(process.hrtime.bigint() - started) / 1e6);
    tf.dispose(result);
  }
  return best;
}

/** Prints a Markdown table, with numbers rounded to one decimal. */
export function printTable(header: string[], rows: (string | number)[][]): void {
  const cell = (value: string | number) => (typeof value === 'number' ? value.toFixed(1) : value);
  console.log(`| ${header.join(' | ')} |`);
  console.log(`| ${header.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`);
  for (const row of rows) console.log(`| ${row.map(cell).join(' | ')} |`);
}
