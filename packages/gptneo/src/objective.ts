/**
 * The causal language-modelling objective that modularization trains masks with: position t
 * predicts token t + 1, and the loss is the mean cross-entropy over the targets that are not
 * ignored (-100), as `GPTNeoForCausalLM` computes it when given `labels`.
 */
import * as tf from '@tensorflow/tfjs-core';

import { getLogger, InvalidInputError } from '@modularevo/core-tensor';

import { toIntMatrix, type GPTNeoInputs, type IdMatrix } from './inputs';
import type { GPTNeoForCausalLM, GPTNeoForwardOptions } from './model';
import { crossEntropySum } from './ops';

const log = getLogger('gptneo');

/** Label value that the loss skips, as in PyTorch's `CrossEntropyLoss(ignore_index=-100)`. */
export const IGNORE_INDEX = -100;

/** One batch of the language-modelling objective. */
export interface CausalLMBatch extends GPTNeoInputs {
  /** Targets `[batch, seq]` before the shift; defaults to `inputIds` with -100 where `attentionMask` is 0. */
  labels?: IdMatrix;
}

/**
 * Returns the default labels: the input ids, with {@link IGNORE_INDEX} at padded positions so that
 * padding is never a target.
 */
export function causalLMLabels(inputIds: IdMatrix, attentionMask?: IdMatrix): number[][] {
  const ids = toIntMatrix(inputIds, 'input_ids');
  const mask = attentionMask === undefined ? undefined : toIntMatrix(attentionMask, 'attention_mask');
  const labels: number[][] = [];
  for (let b = 0; b < ids.batch; b++) {
    const row: number[] = [];
    for (let t = 0; t < ids.seq; t++) {
      const i = b * ids.seq + t;
      row.push(mask && mask.values[i] === 0 ? IGNORE_INDEX : ids.values[i]);
    }
    labels.push(row);
  }
  return labels;
}

/**
 * Sum of the shifted cross-entropy and the number of targets it covers: `logits[:, t]` against
 * `labels[:, t + 1]`, skipping labels equal to -100. Keeping the two apart lets an evaluation
 * average over many batches by token count.
 *
 * @param logits - `[batch, seq, vocab]`
 * @param labels - `[batch, seq]`, unshifted
 * @throws InvalidInputError when the labels do not fit the logits.
 */
export function causalLMLossSum(logits: tf.Tensor3D, labels: IdMatrix): { sum: tf.Scalar; count: tf.Scalar } {
  const [batch, seq, vocab] = logits.shape;
  const predicting = tf.slice(logits, [0, 0, 0], [batch, seq - 1, vocab]) as tf.Tensor3D; // [batch, seq-1, vocab]
  return shiftedLossSum(predicting, labels);
}

// Cross-entropy of logits that already lack the last position, `[batch, seq-1, vocab]`, against
// unshifted labels `[batch, seq]`.
function shiftedLossSum(predicting: tf.Tensor3D, labels: IdMatrix): { sum: tf.Scalar; count: tf.Scalar } {
  const [batch, steps, vocab] = predicting.shape;
  const seq = steps + 1;
  const targets = toIntMatrix(labels, 'labels');
  if (targets.batch !== batch || targets.seq !== seq) {
    throw new InvalidInputError(`labels have shape [${targets.batch}, ${targets.seq}] but the logits are for [${batch}, ${seq}]`);
  }
  for (const label of targets.values) {
    if (label !== IGNORE_INDEX && (label < 0 || label >= vocab)) {
      throw new InvalidInputError(`Invalid label ${label}: outside [0, ${vocab}) and not the ignore index ${IGNORE_INDEX}`);
    }
  }
  if (steps === 0) return { sum: tf.scalar(0), count: tf.scalar(0) };

  // shift: position t predicts label t + 1
  const shiftedLabels = new Int32Array(batch * steps);
  for (let b = 0; b < batch; b++) {
    shiftedLabels.set(targets.values.subarray(b * seq + 1, (b + 1) * seq), b * steps);
  }
  const flatLogits = tf.reshape(predicting, [batch * steps, vocab]) as tf.Tensor2D; // [batch * (seq-1), vocab]
  return crossEntropySum(flatLogits, tf.tensor1d(shiftedLabels, 'int32'));
}

/**
 * Mean shifted cross-entropy of `logits` against `labels` (a scalar). A batch in which every
 * target is ignored gives 0 rather than the NaN of PyTorch, so one empty batch cannot poison a run.
 */
export function causalLMLoss(logits: tf.Tensor3D, labels: IdMatrix): tf.Scalar {
  const { sum, count } = causalLMLossSum(logits, labels);
  return tf.div(sum, tf.maximum(count, 1)); // maximum: guards the empty batch
}

/**
 * Runs the model on a batch and returns its causal language-modelling loss (a scalar). Only the
 * positions that predict a token go through `lm_head`; the last one has no target.
 *
 * @throws InvalidInputError for inputs or labels that do not fit the model.
 */
export function causalLMObjective(model: GPTNeoForCausalLM, batch: CausalLMBatch, options: GPTNeoForwardOptions = {}): tf.Scalar {
  const { sum, count } = objectiveSum(model, batch, options);
  return tf.div(sum, tf.maximum(count, 1)); // maximum: guards the empty batch
}

/** Result of {@link evaluatePerplexity}. */
export interface PerplexityResult {
  /** Mean cross-entropy per target token, in nats. */
  loss: number;
  /** `exp(loss)`. */
  perplexity: number;
  /** Number of target tokens counted. */
  tokens: number;
}

/**
 * Evaluates the model's perplexity over `batches`: total cross-entropy over total target tokens,
 * so batches with more tokens weigh more (unlike a mean of per-batch losses).
 *
 * @throws InvalidInputError when no batch has a target token.
 */
export function evaluatePerplexity(model: GPTNeoForCausalLM, batches: Iterable<CausalLMBatch>): PerplexityResult {
  let total = 0;
  let tokens = 0;
  let index = 0;
  for (const batch of batches) {
    const [sum, count] = tf.tidy(() => {
      const result = objectiveSum(model, batch, {});
      return [result.sum.dataSync()[0], result.count.dataSync()[0]];
    });
    total += sum;
    tokens += count;
    index++;
    log.debug(`perplexity batch ${index}: ${count} tokens, loss ${(sum / Math.max(count, 1)).toFixed(4)}`);
  }
  if (tokens === 0) throw new InvalidInputError('No target tokens to evaluate: every batch was empty or fully padded');

  const loss = total / tokens;
  return { loss, perplexity: Math.exp(loss), tokens };
}

function objectiveSum(model: GPTNeoForCausalLM, batch: CausalLMBatch, options: GPTNeoForwardOptions) {
  const labels = batch.labels ?? causalLMLabels(batch.inputIds, batch.attentionMask);
  const { lastHiddenState } = model.transformer(batch, options);
  const [size, seq, hidden] = lastHiddenState.shape;
  if (seq < 2) return { sum: tf.scalar(0), count: tf.scalar(0) }; // a single token predicts nothing

  // The last position predicts nothing, so lm_head runs on the first seq - 1 positions only.
  const predicting = tf.slice(lastHiddenState, [0, 0, 0], [size, seq - 1, hidden]); // [batch, seq-1, hidden]
  const logits = model.lmHead(predicting, options) as tf.Tensor3D; // [batch, seq-1, vocab]
  return shiftedLossSum(logits, labels);
}
