import * as tf from '@tensorflow/tfjs-core';

import { formatShape } from '../checkpoint/state-dict';
import { InvalidInputError, MismatchError } from '../errors';
import { customOp } from './custom-op';

/**
 * Looks up rows of an embedding table for integer ids of any shape, as `torch.nn.Embedding` (and
 * `tf.gather(table, ids)`) does. The gradient keeps only the ids, and sums the output gradients
 * of repeated ids into their row with `unsortedSegmentSum`.
 *
 * @param table - `[rows, width]`
 * @param ids - int32 ids in `[0, rows)`, any shape
 * @returns `[...ids.shape, width]`
 * @throws MismatchError when `table` is not rank 2; InvalidInputError when `ids` are not int32.
 */
export function embedding(table: tf.Tensor, ids: tf.Tensor): tf.Tensor {
  if (table.rank !== 2) throw new MismatchError(`embedding: table has shape ${formatShape(table.shape)}, expected [rows, width]`);
  if (ids.dtype !== 'int32') throw new InvalidInputError(`embedding: ids have dtype ${ids.dtype}, expected int32`);
  const [rows, width] = table.shape;

  const forward = (save: (tensors: tf.Tensor[]) => void) => {
    save([ids]);
    return tf.gather(table, ids); // [...ids.shape, width]
  };
  return customOp('embedding', { table }, forward, (dy, [savedIds]) => ({
    table: () => {
      const flatIds = tf.reshape(savedIds, [-1]) as tf.Tensor1D; // [n]
      const rowsOfDy = tf.reshape(dy, [flatIds.size, width]); // [n, width]
      return tf.unsortedSegmentSum(rowsOfDy, flatIds, rows); // [rows, width]
    },
  }));
}
