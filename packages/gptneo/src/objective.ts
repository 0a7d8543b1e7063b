/**
 * The causal language-modelling objective that modularization trains masks with: position t
 * predicts token t + 1, and the loss is the mean cross-entropy over the targets that are not
 * ignored (-100), as `GPTNeoForCausalLM` computes it when given `labels`.
 */
import * as tf from '@tensorflow/tfjs-core';

import { crossEntropy, getLogger, InvalidInputError } from '@modularevo/core-tensor';

import { toIntMatrix, type GPTNeoInputs, type IdMatrix } from './inputs';
import type { GPTNeoForCausalLM, GPTNeoForwardOptions } from './model';

const log = getLogger('gptneo');

/** Label value that the loss skips, as in PyTorch's `CrossEntropyLoss(ignore_index=-100)`. */
export const IGNORE_INDEX = -100;

/**
 * Default number of logits the objective computes at once: 2^24 float32 values (64 MiB), about
 * 330 rows of a 50257-token vocabulary. Their softmax and gradient are as large again during
 * backpropagation.
 */
export const LOGITS_CHUNK_ELEMENTS = 2 ** 24;

/** Options of {@link causalLMObjective}. */
export interface CausalLMOptions extends GPTNeoForwardOptions {
  /** Logits computed at once (rows times vocabulary); see {@link LOGITS_CHUNK_ELEMENTS}. */
  logitsChunkElements?: number;
}

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

/** A shifted cross-entropy and the number of targets it averages over. */
interface ShiftedLoss {
  /** Mean over the counted targets; 0 when there are none. */
  mean: tf.Scalar;
  count: number;
}

/**
 * Mean shifted cross-entropy of `logits` (`[batch, seq, vocab]`) against unshifted `labels`
 * (`[batch, seq]`). A batch in which every target is ignored gives 0 rather than the NaN of
 * PyTorch, so one empty batch cannot poison a run.
 *
 * @throws InvalidInputError when the labels do not fit the logits.
 */
export function causalLMLoss(logits: tf.Tensor3D, labels: IdMatrix): tf.Scalar {
  const [batch, seq, vocab] = logits.shape;
  const targets = shiftLabels(labels, batch, seq, vocab);
  const predicting = tf.reshape(tf.slice(logits, [0, 0, 0], [batch, seq - 1, vocab]), [-1, vocab]); // [batch * (seq-1), vocab]
  const logitsOfRows = (start: number, rows: number) => tf.slice(predicting, [start, 0], [rows, vocab]);
  return chunkedLoss(targets, vocab, logitsOfRows, logits, LOGITS_CHUNK_ELEMENTS).mean;
}

/**
 * Runs the model on a batch and returns its causal language-modelling loss (a scalar): the mean
 * cross-entropy over the targets that are not -100, or 0 when there are none. Only the positions
 * that predict a token go through `lm_head`, because the last one has no target.
 *
 * @throws InvalidInputError for inputs or labels that do not fit the model.
 */
export function causalLMObjective(model: GPTNeoForCausalLM, batch: CausalLMBatch, options: CausalLMOptions = {}): tf.Scalar {
  return objectiveLoss(model, batch, options).mean;
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
    const { mean, count } = tf.tidy(() => {
      const result = objectiveLoss(model, batch, {});
      return { mean: result.mean.dataSync()[0], count: result.count };
    });
    total += mean * count;
    tokens += count;
    index++;
    log.debug(`perplexity batch ${index}: ${count} tokens, loss ${mean.toFixed(4)}`);
  }
  if (tokens === 0) throw new InvalidInputError('No target tokens to evaluate: every batch was empty or fully padded');

  const loss = total / tokens;
  return { loss, perplexity: Math.exp(loss), tokens };
}

function objectiveLoss(model: GPTNeoForCausalLM, batch: CausalLMBatch, options: CausalLMOptions): ShiftedLoss {
  const labels = batch.labels ?? causalLMLabels(batch.inputIds, batch.attentionMask);
  const { lastHiddenState } = model.transformer(batch, options);
  const [size, seq, hidden] = lastHiddenState.shape;
  const targets = shiftLabels(labels, size, seq, model.config.vocab_size);

  // The last position predicts nothing, so lm_head runs on the first seq - 1 positions only.
  const predicting = tf.reshape(tf.slice(lastHiddenState, [0, 0, 0], [size, seq - 1, hidden]), [-1, hidden]); // [batch * (seq-1), hidden]
  const logitsOfRows = (start: number, rows: number) => model.lmHead(tf.slice(predicting, [start, 0], [rows, hidden]), options);
  const chunkElements = options.logitsChunkElements ?? LOGITS_CHUNK_ELEMENTS;
  return chunkedLoss(targets, model.config.vocab_size, logitsOfRows, lastHiddenState, chunkElements);
}

// Shifts `[batch, seq]` labels so that position t is scored against label t + 1, and checks them.
// Returns `[batch * (seq-1)]` row-major.
function shiftLabels(labels: IdMatrix, batch: number, seq: number, vocab: number): Int32Array {
  const targets = checkLabelShape(labels, batch, seq);
  const steps = Math.max(seq - 1, 0);
  const shifted = new Int32Array(batch * steps);
  for (let b = 0; b < batch; b++) {
    shifted.set(targets.values.subarray(b * seq + 1, (b + 1) * seq), b * steps);
  }
  for (const label of shifted) {
    if (label !== IGNORE_INDEX && (label < 0 || label >= vocab)) {
      throw new InvalidInputError(`Invalid label ${label}: outside [0, ${vocab}) and not the ignore index ${IGNORE_INDEX}`);
    }
  }
  return shifted;
}

/**
 * Cross-entropy over rows of logits produced chunk by chunk, so that about `chunkElements`
 * logits (and their gradient) exist at once during backpropagation.
 * `connectTo` makes the all-ignored case a zero that still depends on the weights, so
 * tf.variableGrads returns zero gradients instead of failing.
 */
function chunkedLoss(
  targets: Int32Array,
  vocab: number,
  logitsOfRows: (start: number, rows: number) => tf.Tensor,
  connectTo: tf.Tensor,
  chunkElements: number,
): ShiftedLoss {
  const count = countTargets(targets);
  if (count === 0) return { mean: zeroConnectedTo(connectTo), count };

  const rowsPerChunk = Math.max(1, Math.floor(chunkElements / vocab));
  const parts: { mean: tf.Scalar; count: number }[] = [];
  for (let start = 0; start < targets.length; start += rowsPerChunk) {
    const chunk = targets.subarray(start, start + rowsPerChunk);
    const counted = countTargets(chunk);
    if (counted === 0) continue;
    const logits = logitsOfRows(start, chunk.length); // [rows, vocab]
    parts.push({ mean: crossEntropy(logits, tf.tensor1d(chunk, 'int32')), count: counted });
  }
  if (parts.length === 1) return { mean: parts[0].mean, count };

  // weighted by target count, so the result is the mean over every target of the batch
  const sum = tf.addN(parts.map((part) => tf.mul(part.mean, part.count)));
  return { mean: tf.div(sum, count) as tf.Scalar, count };
}

function countTargets(targets: Int32Array): number {
  let count = 0;
  for (const label of targets) if (label !== IGNORE_INDEX) count++;
  return count;
}

// A scalar +0 computed from `x`, so gradients with respect to the weights exist and are zero.
function zeroConnectedTo(x: tf.Tensor): tf.Scalar {
  return tf.mul(tf.sum(tf.square(x)), 0) as tf.Scalar;
}

function checkLabelShape(labels: IdMatrix, batch: number, seq: number) {
  const targets = toIntMatrix(labels, 'labels');
  if (targets.batch !== batch || targets.seq !== seq) {
    throw new InvalidInputError(`labels have shape [${targets.batch}, ${targets.seq}] but the inputs are [${batch}, ${seq}]`);
  }
  return targets;
}
