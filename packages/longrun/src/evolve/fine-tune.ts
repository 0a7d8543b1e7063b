/**
 * Fine-tuning of one task model inside an evolution stage, fully or guided by a module.
 *
 * Which parameters train is decided by `trainableParameters` of `@modularevo/masking`, as for
 * `modularevo finetune`: under a module the task head trains in full and a base parameter only
 * at the entries its mask keeps. Gradients are masked before clipping and weight decay, so
 * masked-out entries never move, which is checked bit for bit at the end. The best checkpoint
 * on the validation subset is restored at the end, as the original scripts load the best model.
 *
 * NOTE: this is a loop of its own, not `finetune` of `@modularevo/masking`. An evolution stage
 * continues from a composed task model with its trained head, and applies a module learned on
 * the base model to a model evolved from it. `finetune` starts every run with a fresh head, and
 * it rejects a module whose base-model hash differs from the model's.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  AdamW,
  linearScheduleWithWarmup,
  train,
  type Rng,
  type TrainSummary,
} from '@modularevo/core-tensor';
import {
  assertMaskedOutUnchanged,
  parameterChangeReport,
  trainableParameters,
  type Architecture,
  type ArchitectureTask,
  type Module,
  type TaskModel,
} from '@modularevo/masking';

import type { FinetuneSettings } from '../config/settings';
import { copyStateDict } from './state-dicts';

/** Inputs of {@link fineTune}. */
export interface FineTuneRequest {
  architecture: Architecture;
  task: ArchitectureTask;
  /** The model to train in place: a fresh head on the base model, or a composed model of the previous stage. */
  model: TaskModel;
  train: unknown[];
  validation: unknown[];
  /** The module that guides fine-tuning; full fine-tuning without it. */
  module?: Module;
  settings: FinetuneSettings;
  /** Stream of the data order and dropout of this fine-tuning. */
  rng: Rng;
  /** Folder of the training loop's `metrics.jsonl`. */
  runDir: string;
  progress: boolean;
  label: string;
}

/** Result of {@link fineTune}. */
export interface FineTuneResult {
  training: TrainSummary;
  /** Best validation metrics (those of the restored parameters). */
  validation: Record<string, number>;
  /** Fraction of the base parameters' entries that changed. */
  changedFraction: number;
}

/** Trains `request.model` in place and restores its best validation checkpoint. */
export async function fineTune(request: FineTuneRequest): Promise<FineTuneResult> {
  const { model, task, settings, rng } = request;
  const before = copyStateDict(model.base.stateDict());
  const { parameters, gradientMasks } = trainableParameters(request.architecture, model, request.module);
  const optimizer = new AdamW(parameters, { lr: settings.lr, weightDecay: settings.weightDecay });

  // the best checkpoint is kept in memory as plain arrays
  let best: { values: Map<tf.Variable, Float32Array>; metrics: Record<string, number> } | undefined;
  try {
    const batchOptions = { batchSize: settings.batchSize, maxLength: settings.maxLength };
    const validation = task.batches(model, request.validation, { ...batchOptions, split: 'validation' });
    const stepsPerEpoch = Math.ceil(request.train.length / settings.batchSize);
    const totalSteps = Math.min(settings.maxSteps ?? Infinity, settings.epochs * stepsPerEpoch);

    const training = await train({
      epochs: settings.epochs,
      maxSteps: settings.maxSteps,
      parameters,
      optimizer,
      gradientMasks,
      schedule: linearScheduleWithWarmup(Math.min(settings.warmupSteps, totalSteps), totalSteps),
      batches: (epoch) => task.batches(model, request.train, { ...batchOptions, shuffleSeed: rng.fork(`epoch-${epoch}`).seed, split: 'train' }),
      lossFn: (batch, { step, microBatch }) => model.loss(batch, { training: true, seed: rng.fork(`dropout/${step}/${microBatch}`).seed }),
      evaluate: () => model.evaluate(validation, { split: 'validation', progress: false }),
      evalEvery: settings.evalEvery,
      primaryMetric: task.info.primaryMetric,
      mode: 'max',
      earlyStoppingPatience: settings.patience,
      onBest: async ({ metrics }) => {
        const values = new Map<tf.Variable, Float32Array>();
        for (const variable of parameters) values.set(variable, Float32Array.from((await variable.data()) as Float32Array));
        best = { values, metrics };
      },
      countTokens: (batch) => task.tokens(batch),
      runDir: request.runDir,
      progress: request.progress,
      label: request.label,
    });

    // the best checkpoint, then the proof that a module's masked-out entries did not move
    if (best) for (const [variable, values] of best.values) tf.tidy(() => variable.assign(tf.tensor(values, variable.shape, 'float32')));
    const after = model.base.stateDict();
    const report = request.module ? assertMaskedOutUnchanged(before, after, request.module) : parameterChangeReport(before, after);
    return { training, validation: best?.metrics ?? training.lastMetrics ?? {}, changedFraction: report.changedFraction };
  } finally {
    optimizer.dispose();
    tf.dispose([...gradientMasks.values()]);
  }
}
