import type { MergedTensor } from './plan';

/**
 * Float32 inputs of one chunk of a merged tensor: entries `[start, start + length)`, or the
 * whole tensor for a merger that needs whole tensors. The arrays belong to the engine, may be
 * overwritten, and are reused for the next chunk.
 */
export interface TensorBatch {
  tensor: MergedTensor;
  /** Index of the chunk's first entry within the tensor. */
  start: number;
  /** Base model values. */
  base: Float32Array;
  /**
   * One row per fine-tuned model: its task vector (`ft - base`) or its values, as
   * `Merger.rowsAsDeltas` (in the merge pass `Merger.mergeRowsAsDeltas`) selects.
   */
  rows: Float32Array[];
}

/**
 * One merge method as the streaming engine runs it. The engine reads every merged tensor in
 * sorted name order once per prepare pass, then once more for the merge pass. A method that needs
 * global quantities (the TIES threshold and majority sign) computes them in prepare passes, so
 * the model never has to be in memory whole.
 */
export interface Merger {
  /** Whether rows hold task vectors (`ft - base`) rather than fine-tuned values. */
  readonly rowsAsDeltas: boolean;
  /**
   * Whether the merge pass's rows hold task vectors (default `rowsAsDeltas`). A merger that
   * subtracts the base itself in its merge loop sets it to false, saving a pass over the rows.
   */
  readonly mergeRowsAsDeltas?: boolean;
  /** Whether every batch must hold a whole tensor (per-tensor thresholds, matrix solves); otherwise chunks. */
  readonly wholeTensors: boolean;
  /** Number of passes over all merged tensors before the merge pass; may grow while passes run. */
  readonly preparePasses: number;
  /** Names each prepare pass, for logs. */
  passName?(pass: number): string;
  /**
   * Fraction of every chunk that prepare pass `pass` reads (default 1). A sampled pass sees a
   * contiguous part of each chunk, and its rows are not measured for the distance check.
   */
  sampleFraction?(pass: number): number;
  /** Consumes one batch during prepare pass `pass`. */
  prepare?(pass: number, batch: TensorBatch): void;
  /** Called after every tensor went through prepare pass `pass`. */
  finishPass?(pass: number): void;
  /** Returns the merged values of one batch; may return one of the batch's arrays. */
  merge(batch: TensorBatch): Float32Array;
  /** Called after the merge pass, to log totals. */
  finish?(): void;
}
