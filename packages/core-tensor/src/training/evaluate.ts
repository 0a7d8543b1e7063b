import * as tf from '@tensorflow/tfjs-core';

import { InvalidInputError } from '../errors';
import { iterateBatches, type BatchSource } from './iterate';

/** Result of `evaluateLoss`. */
export interface LossEvaluation {
  /** Weighted mean of the batch losses. */
  loss: number;
  /** `exp(loss)`, meaningful when the loss is a mean cross-entropy in nats. */
  perplexity: number;
  /** Number of batches evaluated. */
  batches: number;
}

/**
 * Computes the mean loss over `batches` without gradients, and its perplexity. Each batch's
 * loss counts with weight `weight(batch)` (default 1); pass the number of target tokens to get
 * the per-token mean that language-model perplexity uses. Tensors each batch allocates are freed.
 *
 * @throws InvalidInputError when there is no batch, a weight is negative or all weights are 0
 */
export async function evaluateLoss<B>(
  batches: BatchSource<B>,
  lossFn: (batch: B) => tf.Scalar,
  options: { weight?: (batch: B) => number } = {},
): Promise<LossEvaluation> {
  let weightedSum = 0;
  let totalWeight = 0;
  let count = 0;

  for await (const batch of iterateBatches(batches)) {
    const weight = options.weight ? options.weight(batch) : 1;
    if (!(weight >= 0 && Number.isFinite(weight))) {
      throw new InvalidInputError(`Invalid weight ${weight} for evaluation batch ${count}: use a non-negative number`);
    }
    const loss = tf.tidy(() => lossFn(batch));
    const value = (await loss.data())[0];
    loss.dispose();

    weightedSum += weight * value;
    totalWeight += weight;
    count += 1;
  }

  if (count === 0) throw new InvalidInputError('Evaluation got no batches: check the evaluation split');
  if (totalWeight === 0) throw new InvalidInputError(`Evaluation batch weights are all 0 over ${count} batches`);
  const loss = weightedSum / totalWeight;
  return { loss, perplexity: Math.exp(loss), batches: count };
}
