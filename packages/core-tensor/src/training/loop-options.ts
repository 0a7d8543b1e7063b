import type * as tf from '@tensorflow/tfjs-core';

import { InvalidInputError } from '../errors';
import type { AdamW } from './adamw';
import type { MetricMode } from './early-stopping';
import type { BatchSource } from './iterate';
import type { MetricValue } from './metrics';
import { constantSchedule, type LrSchedule } from './schedule';

/** Position in training passed to the loss function, so it can seed dropout per step. */
export interface StepContext {
  /** Optimizer steps completed before this one. */
  step: number;
  /** Index of the epoch in progress (0 first). */
  epoch: number;
  /** Index of this micro-batch within the optimizer step (0 without gradient accumulation). */
  microBatch: number;
}

/** Evaluation passed to `onBest` when the primary metric improves. */
export interface BestEvaluation {
  step: number;
  epoch: number;
  /** The primary metric's value. */
  value: number;
  /** Every metric `evaluate` returned. */
  metrics: Record<string, number>;
}

/** Values passed to `onStep` after each optimizer step. */
export interface StepReport {
  /** Optimizer steps completed, this one included. */
  step: number;
  epoch: number;
  /** Mean training loss over the micro-batches of this step. */
  loss: number;
  /** Learning rate of the first parameter group at this step. */
  learningRate: number;
  /** Global gradient norm before clipping (undefined when clipping is off). */
  gradNorm?: number;
}

/** Request that `onStep` may return. */
export interface StepAction {
  /** End training after this step (`stopReason` `callback`). */
  stop?: boolean;
  /** Values to write to `metrics.jsonl` at this step, for example a retention rate. */
  metrics?: Record<string, MetricValue>;
}

/** Settings of `train`. Step counts are optimizer steps unless a name says otherwise. */
export interface TrainOptions<B> {
  /** Stop after this many optimizer steps (Hugging Face `max_steps`). */
  maxSteps?: number;
  /** Stop after this many passes over the data (`num_train_epochs`). Set this, `maxSteps`, or both. */
  epochs?: number;
  /**
   * Returns the batches of one epoch (0 first). For resumable runs the order must depend only on
   * the epoch, for example shuffled with `rng.fork(`epoch-${epoch}`)`, because a resumed run
   * skips the batches the interrupted run had used.
   */
  batches: (epoch: number) => BatchSource<B>;
  /** Computes the training loss of one batch from the parameters (a mean over the batch). */
  lossFn: (batch: B, context: StepContext) => tf.Scalar;
  /** The variables to train; all must be trainable and known to `optimizer`. */
  parameters: tf.Variable[];
  optimizer: AdamW;
  /** Learning-rate factor per step (default constant 1). */
  schedule?: LrSchedule;
  /** Micro-batches whose gradients are averaged into one optimizer step (default 1). */
  gradientAccumulationSteps?: number;
  /**
   * Free each tensor saved for backpropagation, and each intermediate gradient, as soon as the
   * backward pass has used it (default true; see `lowMemoryVariableGrads`). `false` uses
   * `tf.variableGrads`, which holds them until the backward pass ends. The gradients are the same.
   */
  lowMemoryGradients?: boolean;
  /** Maximum global gradient norm, after masking (default 1.0 as the Hugging Face Trainer; 0 disables). */
  maxGradNorm?: number;
  /** 0/1 masks by parameter name: entries outside a mask never change (see `AdamW.setGradientMask`). */
  gradientMasks?: Map<string, tf.Tensor> | Record<string, tf.Tensor>;
  /** Computes validation metrics from the current parameters, for example `{ loss, accuracy }`. */
  evaluate?: () => Promise<Record<string, number>> | Record<string, number>;
  /** Evaluate every this many steps; by default at the end of every epoch. Training also ends with an evaluation. */
  evalEvery?: number;
  /** Metric that decides the best checkpoint and early stopping (default `loss`). */
  primaryMetric?: string;
  /** Whether the primary metric is better when larger; by default `min` for names ending in `loss`, else `max`. */
  mode?: MetricMode;
  /** Stop after this many evaluations without improvement of the primary metric. */
  earlyStoppingPatience?: number;
  /** Called after each evaluation that improves the primary metric, to save the best model. */
  onBest?: (best: BestEvaluation) => Promise<void> | void;
  /** Called after each optimizer step; it may stop training or add values to the metrics log. */
  onStep?: (report: StepReport) => Promise<StepAction | void> | StepAction | void;
  /** Run folder for `metrics.jsonl` and the resumable checkpoint. */
  runDir?: string;
  /** Write the mean training loss to `metrics.jsonl` every this many steps (default 10). */
  logEvery?: number;
  /** Write a resumable checkpoint to `<runDir>/checkpoint` every this many steps and at the end. */
  saveEvery?: number;
  /** Continue from `<runDir>/checkpoint` (parameters, optimizer state, position in the data). */
  resume?: boolean;
  /** Number of tokens in a batch, for tokens per second. */
  countTokens?: (batch: B) => number;
  /** Draw a progress bar on stderr (default true). */
  progress?: boolean;
  /** Name shown on the progress bar and in logs (default `train`). */
  label?: string;
}

/** `TrainOptions` with defaults applied and values checked. */
export interface ResolvedTrainOptions<B> extends TrainOptions<B> {
  schedule: LrSchedule;
  gradientAccumulationSteps: number;
  lowMemoryGradients: boolean;
  maxGradNorm: number;
  primaryMetric: string;
  mode: MetricMode;
  logEvery: number;
  progress: boolean;
  label: string;
}

/**
 * Applies defaults and checks every setting before training starts.
 *
 * @throws InvalidInputError naming the first invalid setting
 */
export function resolveTrainOptions<B>(options: TrainOptions<B>): ResolvedTrainOptions<B> {
  if (options.maxSteps === undefined && options.epochs === undefined) {
    throw new InvalidInputError('Training needs maxSteps or epochs: set how long to train');
  }
  checkCount('maxSteps', options.maxSteps);
  checkCount('epochs', options.epochs);
  checkCount('gradientAccumulationSteps', options.gradientAccumulationSteps);
  checkCount('evalEvery', options.evalEvery);
  checkCount('logEvery', options.logEvery);
  checkCount('saveEvery', options.saveEvery);

  const maxGradNorm = options.maxGradNorm ?? 1.0;
  if (!(maxGradNorm >= 0 && Number.isFinite(maxGradNorm))) {
    throw new InvalidInputError(`Invalid maxGradNorm ${maxGradNorm}: use a positive number, or 0 to turn clipping off`);
  }
  if (options.earlyStoppingPatience !== undefined && !options.evaluate) {
    throw new InvalidInputError('earlyStoppingPatience needs an evaluate function to measure progress');
  }
  if ((options.saveEvery !== undefined || options.resume) && !options.runDir) {
    throw new InvalidInputError('saveEvery and resume need a runDir for the checkpoint');
  }
  checkParameters(options.parameters, options.optimizer);

  const primaryMetric = (options.primaryMetric ?? 'loss').replace(/^eval_/, '');
  return {
    ...options,
    schedule: options.schedule ?? constantSchedule(),
    gradientAccumulationSteps: options.gradientAccumulationSteps ?? 1,
    lowMemoryGradients: options.lowMemoryGradients ?? true,
    maxGradNorm,
    primaryMetric,
    mode: options.mode ?? (primaryMetric.endsWith('loss') ? 'min' : 'max'),
    logEvery: options.logEvery ?? 10,
    progress: options.progress ?? true,
    label: options.label ?? 'train',
  };
}

function checkCount(name: string, value: number | undefined): void {
  if (value !== undefined && !(Number.isSafeInteger(value) && value >= 1)) {
    throw new InvalidInputError(`Invalid ${name} ${value}: use a positive integer`);
  }
}

function checkParameters(parameters: tf.Variable[], optimizer: AdamW): void {
  if (parameters.length === 0) throw new InvalidInputError('Training needs at least one parameter to train');
  const known = new Set(optimizer.parameterNames());
  for (const variable of parameters) {
    if (!variable.trainable) {
      throw new InvalidInputError(`Parameter ${variable.name} is not trainable; create it with trainable = true or leave it out`);
    }
    if (!known.has(variable.name)) {
      throw new InvalidInputError(`Parameter ${variable.name} is not in the optimizer; pass the same variables to AdamW`);
    }
  }
}
