/** Settings of {@link finetune}, their defaults, and the checks made before any work starts. */
import * as path from 'path';

import { InvalidInputError, SCHEDULER_TYPES, type SchedulerType } from '@modularevo/core-tensor';
import type { SplitName, TaskSource } from '@modularevo/datasets';

import type { Architecture, ArchitectureTask, PretrainedModel, TaskDataset } from '../architecture';
import type { Module } from '../module';
import { count, fraction, nonNegative, optionalCount, positive, requireText, seed } from '../workflow/checks';

/** Settings of one fine-tuning run. Step counts are optimizer steps. */
export interface FinetuneOptions {
  architecture: Architecture;
  /** Base model folder, or a loaded model, which is then trained in place and left to the caller. */
  model: string | PretrainedModel;
  /** Task name, one of `architecture.tasks`, or a task of the architecture built with other settings. */
  task: string | ArchitectureTask;
  /** The task's data: a file or folder, the file of each split, or a dataset already loaded. */
  data: TaskSource | TaskDataset;
  /** Module (or module folder) whose masks decide which base weights train. Give this or `full`. */
  module?: string | Module;
  /** Fine-tune every base parameter (the baseline of mask-guided fine-tuning). Give this or `module`. */
  full?: boolean;
  /** Folder of the fine-tuned model (Hugging Face layout plus `task.json`). */
  outDir: string;
  /** Folder of `config.json`, `metrics.jsonl` and `summary.json` (default: `outDir` with `-run` appended). */
  runDir?: string;
  /** Passes over the train split (default 2, as the original scripts, when `maxSteps` is unset). */
  epochs?: number;
  maxSteps?: number;
  /** Examples per micro-batch (default 4, as the original scripts). */
  batchSize?: number;
  /** Examples per evaluation batch (default `batchSize`). */
  evalBatchSize?: number;
  /** AdamW learning rate (default 5e-5, as the original scripts). */
  lr?: number;
  /** AdamW weight decay (default 0, as the original scripts). */
  weightDecay?: number;
  /** Steps over which the learning rate rises from 0 (default 0; the original scripts use 500 on GPT-Neo 125M). */
  warmupSteps?: number;
  /** Fraction of the training steps over which the learning rate rises, when `warmupSteps` is not given (Hugging Face `warmup_ratio`). */
  warmupRatio?: number;
  /** Learning-rate schedule after warm-up, a Hugging Face `lr_scheduler_type` (default `linear`, decaying to 0). */
  scheduler?: SchedulerType;
  /** Largest global norm of the gradients that are applied (default 1.0; 0 turns clipping off). */
  maxGradNorm?: number;
  /** Micro-batches averaged into one optimizer step (default 1). */
  gradientAccumulationSteps?: number;
  /** Evaluate on the validation split every this many steps (default: at the end of every epoch). */
  evalEvery?: number;
  /** Stop after this many evaluations without a better primary metric (default 3; 0 turns early stopping off). */
  patience?: number;
  /** Tokens per example; longer inputs are truncated (default: the task's default). */
  maxLength?: number;
  /** Fraction of the train split held out for validation when the data has no validation split (default 0.1). */
  validationFraction?: number;
  /** Keep at most this many examples per split (a seeded sample). */
  maxExamples?: Partial<Record<SplitName, number>>;
  /** Fixed label set, for example the labels of an earlier fine-tuned model. */
  labels?: readonly string[];
  /** Seed of the head initialisation, data order, validation split and dropout (default 42, the Hugging Face Trainer default). */
  seed?: number;
  /** Replace an existing output folder and the logs of an earlier run. */
  overwrite?: boolean;
  /** Draw a progress bar on stderr (default true). */
  progress?: boolean;
}

/** The settings after defaults, with every number checked. */
export interface ResolvedFinetuneOptions {
  task: string;
  outDir: string;
  runDir: string;
  strategy: 'module' | 'full';
  epochs?: number;
  maxSteps?: number;
  batchSize: number;
  evalBatchSize: number;
  lr: number;
  weightDecay: number;
  warmupSteps?: number;
  warmupRatio: number;
  scheduler: SchedulerType;
  maxGradNorm: number;
  gradientAccumulationSteps: number;
  evalEvery?: number;
  patience?: number;
  maxLength?: number;
  validationFraction: number;
  seed: number;
  overwrite: boolean;
  progress: boolean;
}

/**
 * Applies defaults and checks every setting.
 *
 * @throws InvalidInputError naming the first invalid setting
 */
export function resolveFinetuneOptions(options: FinetuneOptions): ResolvedFinetuneOptions {
  const task = typeof options.task === 'string' ? options.task : options.task?.info?.name;
  requireText('task', task, `a task of ${options.architecture?.name ?? 'the architecture'}`);
  requireText('outDir', options.outDir, 'the folder to write the fine-tuned model to');
  if (options.runDir !== undefined) requireText('runDir', options.runDir, 'the folder to write logs to');
  if ((options.module === undefined) === !options.full) {
    throw new InvalidInputError(
      options.full ? 'Give a module (--module) or full fine-tuning (--full), not both' : 'Choose what trains: pass a module (--module DIR) for mask-guided fine-tuning, or full fine-tuning (--full)',
    );
  }
  const scheduler = options.scheduler ?? 'linear';
  if (!SCHEDULER_TYPES.includes(scheduler)) throw new InvalidInputError(`Invalid scheduler "${scheduler}": use one of ${SCHEDULER_TYPES.join(', ')}`);

  const batchSize = count('batchSize', options.batchSize ?? 4, 1);
  const patience = count('patience', options.patience ?? 3, 0);
  const resolved: ResolvedFinetuneOptions = {
    task: task!,
    outDir: options.outDir,
    runDir: options.runDir ?? `${options.outDir.replace(/[\\/]+$/, '')}-run`,
    strategy: options.full ? 'full' : 'module',
    epochs: optionalCount('epochs', options.epochs),
    maxSteps: optionalCount('maxSteps', options.maxSteps),
    batchSize,
    evalBatchSize: count('evalBatchSize', options.evalBatchSize ?? batchSize, 1),
    lr: positive('lr', options.lr ?? 5e-5),
    weightDecay: nonNegative('weightDecay', options.weightDecay ?? 0),
    warmupSteps: options.warmupSteps === undefined ? undefined : count('warmupSteps', options.warmupSteps, 0),
    warmupRatio: fraction('warmupRatio', options.warmupRatio ?? 0),
    scheduler,
    maxGradNorm: nonNegative('maxGradNorm', options.maxGradNorm ?? 1.0),
    gradientAccumulationSteps: count('gradientAccumulationSteps', options.gradientAccumulationSteps ?? 1, 1),
    evalEvery: optionalCount('evalEvery', options.evalEvery),
    patience: patience === 0 ? undefined : patience,
    maxLength: optionalCount('maxLength', options.maxLength),
    validationFraction: fraction('validationFraction', options.validationFraction ?? 0.1),
    seed: seed(options.seed ?? 42),
    overwrite: options.overwrite ?? false,
    progress: options.progress ?? true,
  };
  if (resolved.epochs === undefined && resolved.maxSteps === undefined) resolved.epochs = 2;
  if (path.resolve(resolved.runDir) === path.resolve(resolved.outDir)) {
    throw new InvalidInputError(`The run folder must differ from the model folder ${resolved.outDir}, which is replaced when the model is saved`);
  }
  return resolved;
}
