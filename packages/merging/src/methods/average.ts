import type { Merger, TensorBatch } from '../engine/merger';
import { meanRows } from '../steps/combine';

/**
 * Average merging: the mean of the fine-tuned parameters themselves (not of task vectors), as
 * the original computes it (a float32 sum over the models, divided by their count).
 */
export class AverageMerger implements Merger {
  readonly rowsAsDeltas = false;
  readonly wholeTensors = false;
  readonly preparePasses = 0;

  merge({ rows }: TensorBatch): Float32Array {
    meanRows(rows, rows[0]);
    return rows[0];
  }
}
