import * as nodePath from 'path';

import * as tf from '@tensorflow/tfjs-core';

import { InvalidInputError } from '../errors';
import { getLogger } from '../log';
import { clipGradNorm } from './clip';
import { BestMetricTracker } from './early-stopping';
import { TrainingDivergedError } from './errors';
import { GradientAccumulator } from './gradients';
import { iterateBatches, knownLength, type BatchSource } from './iterate';
import { resolveTrainOptions, type ResolvedTrainOptions, type TrainOptions } from './loop-options';
import { MetricsLogger } from './metrics';
import { ProgressBar } from './progress';
import { TRAINING_CHECKPOINT_DIR, loadTrainingCheckpoint, saveTrainingCheckpoint, type TrainerState } from './training-checkpoint';

const log = getLogger('train');

/** Reason training ended. */
export type StopReason = 'max_steps' | 'epochs' | 'early_stopping' | 'callback';

/** Report that `train` returns when it ends. */
export interface TrainSummary {
  /** Optimizer steps completed, including those before a resume. */
  steps: number;
  /** Index of the last epoch that ran. */
  epoch: number;
  stopReason: StopReason;
  /** Mean training loss over the steps of this call (undefined when it took no step). */
  trainLoss?: number;
  /** Best value of the primary metric, and the step where it was measured. */
  bestMetric?: number;
  bestStep?: number;
  /** Metrics of the last evaluation. */
  lastMetrics?: Record<string, number>;
  /** Time of this call, in seconds. */
  wallTimeSeconds: number;
  /** Time spent in training steps (evaluation and checkpoints excluded), in seconds. */
  trainSeconds: number;
  /** Tokens trained on in this call, and per second of training steps, when `countTokens` is set. */
  tokens?: number;
  tokensPerSecond?: number;
}

/**
 * Trains `parameters` with `optimizer` on the batches of each epoch. Each optimizer step
 * averages the gradients of `gradientAccumulationSteps` micro-batches (fewer at the end of an
 * epoch), masks them, clips their global norm, and updates with the scheduled learning rate.
 *
 * Around the steps it evaluates every `evalEvery` steps (or every epoch), tracks the best value
 * of the primary metric (calling `onBest`), and stops early after `earlyStoppingPatience`
 * evaluations without improvement. It writes `metrics.jsonl` and resumable checkpoints to
 * `runDir` and shows a progress bar. Every tensor a step allocates is freed.
 *
 * @throws InvalidInputError on invalid settings or an epoch without batches
 * @throws TrainingDivergedError when the loss or the gradient norm becomes NaN or infinite
 * @throws CheckpointError or MismatchError when `resume` finds no usable checkpoint
 */
export async function train<B>(options: TrainOptions<B>): Promise<TrainSummary> {
  return new TrainingRun(resolveTrainOptions(options)).run();
}

/** The state of one `train` call; each method is one stage of the loop. */
class TrainingRun<B> {
  private step = 0;
  private epoch = 0;
  private batchesInEpoch = 0;
  private tokens = 0;
  private tokensAtStart = 0;
  private stopReason: StopReason | undefined;
  private lastEvaluationStep = -1;
  private lastMetrics: Record<string, number> | undefined;

  // training loss since the last metrics line, and over the whole call
  private windowLoss = { sum: 0, steps: 0 };
  private runLoss = { sum: 0, steps: 0 };
  private lastGradNorm: number | undefined;
  private pausedMs = 0;

  private readonly tracker: BestMetricTracker;
  private readonly accumulator: GradientAccumulator;
  private readonly progress: ProgressBar;
  private metrics: MetricsLogger | undefined;

  constructor(private readonly options: ResolvedTrainOptions<B>) {
    this.tracker = new BestMetricTracker(options.primaryMetric, options.mode, options.earlyStoppingPatience);
    this.accumulator = new GradientAccumulator(options.parameters, { lowMemory: options.lowMemoryGradients });
    this.progress = new ProgressBar({ label: options.label, total: options.maxSteps, enabled: options.progress });
  }

  async run(): Promise<TrainSummary> {
    const started = Date.now();
    const { options } = this;

    // resume, masks and logs
    if (options.resume) this.restore();
    this.tokensAtStart = this.tokens;
    for (const [name, mask] of maskEntries(options.gradientMasks)) options.optimizer.setGradientMask(name, mask);
    if (options.runDir) this.metrics = new MetricsLogger(options.runDir);
    this.logStart();

    // epochs, then a final evaluation and checkpoint
    this.progress.start(this.step);
    try {
      await this.runEpochs();
      if (options.evaluate && this.lastEvaluationStep !== this.step) await this.evaluate();
      if (options.saveEvery !== undefined) await this.saveCheckpoint();
    } finally {
      this.progress.stop();
      this.metrics?.close();
      this.accumulator.dispose();
    }

    const summary = this.summary((Date.now() - started) / 1000);
    log.info(
      `${options.label} stopped (${summary.stopReason}) after ${summary.steps} steps in ${summary.wallTimeSeconds.toFixed(1)} s` +
        (summary.bestMetric === undefined ? '' : `; best ${options.primaryMetric} ${summary.bestMetric} at step ${summary.bestStep}`),
    );
    return summary;
  }

  private async runEpochs(): Promise<void> {
    const { epochs, maxSteps } = this.options;
    while (this.stopReason === undefined) {
      if (maxSteps !== undefined && this.step >= maxSteps) {
        this.stopReason = 'max_steps';
      } else if (epochs !== undefined && this.epoch >= epochs) {
        this.stopReason = 'epochs';
      } else {
        await this.runEpoch();
        if (this.stopReason !== undefined) break;
        if (this.options.evaluate && this.options.evalEvery === undefined) await this.evaluate();
        this.epoch += 1;
        this.batchesInEpoch = 0;
      }
    }
  }

  private async runEpoch(): Promise<void> {
    const { options, accumulator } = this;
    const source = options.batches(this.epoch);
    this.updateProgressTotal(source);

    // a resumed run skips the micro-batches its checkpoint had already used
    const skip = this.batchesInEpoch;
    let seen = 0;
    for await (const batch of iterateBatches(source)) {
      seen += 1;
      if (seen <= skip) continue;

      const context = { step: this.step, epoch: this.epoch, microBatch: accumulator.count };
      accumulator.add(() => options.lossFn(batch, context));
      this.batchesInEpoch = seen;
      if (options.countTokens) this.tokens += options.countTokens(batch);

      if (accumulator.count === options.gradientAccumulationSteps) {
        await this.optimizerStep();
        if (this.stopReason !== undefined) return;
      }
    }

    if (seen === 0) throw new InvalidInputError(`batches(${this.epoch}) returned no batch: every epoch needs at least one`);
    if (accumulator.count > 0) await this.optimizerStep();
  }

  private async optimizerStep(): Promise<void> {
    const { options } = this;
    const { grads, loss } = await this.accumulator.take();
    let gradNorm: number | undefined;
    try {
      if (!Number.isFinite(loss)) {
        throw new TrainingDivergedError(
          `Training loss is ${loss} at step ${this.step + 1} (epoch ${this.epoch}): lower the learning rate or check that batch`,
        );
      }

      // mask first, so clipping measures the gradient that will be applied
      options.optimizer.applyGradientMasks(grads);
      if (options.maxGradNorm > 0) gradNorm = clipGradNorm(grads, options.maxGradNorm);
      if (gradNorm !== undefined && !Number.isFinite(gradNorm)) {
        throw new TrainingDivergedError(
          `Gradient norm is ${gradNorm} at step ${this.step + 1} (epoch ${this.epoch}): lower the learning rate or check that batch`,
        );
      }
      options.optimizer.step(grads, options.schedule(this.step));
    } finally {
      tf.dispose(Object.values(grads));
    }

    this.step += 1;
    await this.recordStep(loss, gradNorm);
    if (options.maxSteps !== undefined && this.step >= options.maxSteps) this.stopReason ??= 'max_steps';
    if (options.evaluate && options.evalEvery !== undefined && this.step % options.evalEvery === 0) await this.evaluate();
    if (options.saveEvery !== undefined && this.step % options.saveEvery === 0) await this.saveCheckpoint();
  }

  private async recordStep(loss: number, gradNorm: number | undefined): Promise<void> {
    const { options } = this;
    this.windowLoss.sum += loss;
    this.windowLoss.steps += 1;
    this.runLoss.sum += loss;
    this.runLoss.steps += 1;
    this.lastGradNorm = gradNorm;
    this.progress.update(this.step, { loss });

    // the caller's hook may stop training and add values to this step's metrics line
    const learningRate = options.optimizer.groups[0].lr * options.schedule(this.step - 1);
    const action = options.onStep ? await options.onStep({ step: this.step, epoch: this.epoch, loss, learningRate, gradNorm }) : undefined;
    if (action?.stop) {
      this.stopReason = 'callback';
      log.info(`${options.label} stopped by onStep at step ${this.step}`);
    }

    const isLogStep = this.step % options.logEvery === 0;
    if (!isLogStep && !action?.metrics) return;
    const trainingValues: Record<string, number> = {};
    if (isLogStep) {
      trainingValues.loss = this.windowLoss.sum / this.windowLoss.steps;
      trainingValues.learning_rate = learningRate;
      if (this.lastGradNorm !== undefined) trainingValues.grad_norm = this.lastGradNorm;
      log.debug(`step ${this.step}: loss ${trainingValues.loss.toFixed(4)}, learning_rate ${learningRate.toExponential(3)}`);
      this.windowLoss = { sum: 0, steps: 0 };
    }
    this.metrics?.log({ step: this.step, epoch: this.epoch, ...trainingValues, ...action?.metrics });
  }

  private async evaluate(): Promise<void> {
    const { options } = this;
    const started = Date.now();
    const metrics = await options.evaluate!();
    this.pausedMs += Date.now() - started;

    const value = metrics[options.primaryMetric] ?? metrics[`eval_${options.primaryMetric}`];
    if (typeof value !== 'number') {
      throw new InvalidInputError(
        `evaluate() returned no "${options.primaryMetric}" metric (it returned: ${Object.keys(metrics).join(', ') || 'nothing'}); set primaryMetric to one of them`,
      );
    }
    this.lastEvaluationStep = this.step;
    this.lastMetrics = metrics;
    this.metrics?.log({ step: this.step, epoch: this.epoch, ...withEvalPrefix(metrics) });

    const outcome = this.tracker.record(value, this.step);
    log.info(`step ${this.step}: ${formatMetrics(metrics)}${outcome.improved ? ` (best ${options.primaryMetric})` : ''}`);
    if (outcome.improved && options.onBest) {
      const savingStarted = Date.now();
      await options.onBest({ step: this.step, epoch: this.epoch, value, metrics });
      this.pausedMs += Date.now() - savingStarted;
    }
    if (outcome.shouldStop) {
      this.stopReason = 'early_stopping';
      log.info(
        `early stopping at step ${this.step}: ${options.primaryMetric} has not improved for ${this.tracker.evaluationsSinceBest} evaluations`,
      );
    }
  }

  private async saveCheckpoint(): Promise<void> {
    const started = Date.now();
    const dir = nodePath.join(this.options.runDir!, TRAINING_CHECKPOINT_DIR);
    await saveTrainingCheckpoint(dir, this.options.parameters, this.options.optimizer, this.trainerState());
    this.pausedMs += Date.now() - started;
    log.debug(`step ${this.step}: checkpoint written to ${dir}`);
  }

  private restore(): void {
    const dir = nodePath.join(this.options.runDir!, TRAINING_CHECKPOINT_DIR);
    const state = loadTrainingCheckpoint(dir, this.options.parameters, this.options.optimizer);
    this.step = state.global_step;
    this.epoch = state.epoch;
    this.batchesInEpoch = state.batches_in_epoch;
    this.tokens = state.tokens;
    this.tracker.best = state.best_metric ?? undefined;
    this.tracker.bestStep = state.best_step ?? undefined;
    this.tracker.evaluationsSinceBest = state.evaluations_since_best;
    log.info(`resuming from ${dir} at step ${this.step} (epoch ${this.epoch}, batch ${this.batchesInEpoch})`);
  }

  private trainerState(): TrainerState {
    return {
      global_step: this.step,
      epoch: this.epoch,
      batches_in_epoch: this.batchesInEpoch,
      best_metric: this.tracker.best ?? null,
      best_step: this.tracker.bestStep ?? null,
      evaluations_since_best: this.tracker.evaluationsSinceBest,
      tokens: this.tokens,
    };
  }

  /** Sets the bar's total from the epoch length when only `epochs` bounds the run. */
  private updateProgressTotal(source: BatchSource<B>): void {
    const { epochs, maxSteps, gradientAccumulationSteps } = this.options;
    const length = knownLength(source);
    if (epochs === undefined || length === undefined || length === 0) return;
    const byEpochs = epochs * Math.ceil(length / gradientAccumulationSteps);
    this.progress.setTotal(maxSteps === undefined ? byEpochs : Math.min(maxSteps, byEpochs));
  }

  private logStart(): void {
    const { options } = this;
    const values = options.parameters.reduce((sum, variable) => sum + variable.size, 0);
    const length = [
      options.maxSteps === undefined ? undefined : `${options.maxSteps} steps`,
      options.epochs === undefined ? undefined : `${options.epochs} epochs`,
    ].filter(Boolean);
    log.info(
      `${options.label}: ${options.parameters.length} parameter tensors (${values} values), up to ${length.join(' or ')}, ` +
        `gradient accumulation ${options.gradientAccumulationSteps}, max_grad_norm ${options.maxGradNorm || 'off'}`,
    );
  }

  private summary(wallTimeSeconds: number): TrainSummary {
    const trainSeconds = Math.max(0, wallTimeSeconds - this.pausedMs / 1000);
    const tokens = this.options.countTokens ? this.tokens - this.tokensAtStart : undefined;
    return {
      steps: this.step,
      epoch: this.epoch,
      stopReason: this.stopReason ?? 'max_steps',
      trainLoss: this.runLoss.steps > 0 ? this.runLoss.sum / this.runLoss.steps : undefined,
      bestMetric: this.tracker.best,
      bestStep: this.tracker.bestStep,
      lastMetrics: this.lastMetrics,
      wallTimeSeconds,
      trainSeconds,
      tokens,
      tokensPerSecond: tokens !== undefined && trainSeconds > 0 ? tokens / trainSeconds : undefined,
    };
  }
}

function maskEntries(masks: ResolvedTrainOptions<unknown>['gradientMasks']): [string, tf.Tensor][] {
  if (!masks) return [];
  return masks instanceof Map ? [...masks.entries()] : Object.entries(masks);
}

function withEvalPrefix(metrics: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(metrics).map(([name, value]) => [name.startsWith('eval_') ? name : `eval_${name}`, value]));
}

function formatMetrics(metrics: Record<string, number>): string {
  return Object.entries(metrics)
    .map(([name, value]) => `${name} ${Number.isInteger(value) ? value : value.toPrecision(5)}`)
    .join(', ');
}
