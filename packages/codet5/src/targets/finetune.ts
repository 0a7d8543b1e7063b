/**
 * The `codet5:finetune` workflow: fine-tune a CodeT5 model on summarize or concode, fully or
 * guided by a module, through the generic fine-tuner of `@modularevo/masking`. Under a module,
 * the masked parameters train only inside their masks, the others in full and the shared
 * embedding not at all, as ModularEvo's `run_gen_module.py` does. Each epoch ends with a
 * generation-based evaluation on the validation split, and the best model is kept. That model
 * then scores the test split, or only predicts it when it has no references. This file keeps
 * the CodeT5 defaults; predictions go to `<output>/predictions` and the model to `<output>/best`.
 */
import * as path from 'path';

import { InvalidInputError, type TrainSummary } from '@modularevo/core-tensor';
import type { SplitName } from '@modularevo/datasets';
import { finetune } from '@modularevo/masking';

import { architecture } from '../architecture';
import { createConcodeTask, createSummarizeTask, type GenerationTask } from '../tasks';
import { withoutUndefined } from './run-options';

/** Settings of {@link runFinetune}. Learning rates default to CodeT5's (5e-5 summarize, 1e-4 concode). */
export interface FinetuneRunOptions {
  /** `summarize` or `concode`. */
  task: string;
  /** Hugging Face CodeT5 model folder. */
  model: string;
  /** Task data: a code-to-text language folder (summarize) or the Concode folder. */
  data: string;
  /** Run folder for `config.json`, `metrics.jsonl`, `summary.json`, `best/` and `predictions/`. */
  output: string;
  /** Language of the summarize data, its default domain (default `python`). */
  language?: string;
  /** Module folder; when given, fine-tuning is mask-guided. */
  module?: string;
  epochs?: number;
  maxSteps?: number;
  batchSize?: number;
  evalBatchSize?: number;
  lr?: number;
  weightDecay?: number;
  /** Fraction of the steps with a rising learning rate (default 0.1). */
  warmupRatio?: number;
  /** Beams when generating for evaluation (default 1, greedy). */
  numBeams?: number;
  maxSourceLength?: number;
  maxTargetLength?: number;
  /** Keep at most this many examples per split (seeded sample). */
  maxExamples?: Partial<Record<SplitName, number>>;
  /** Seed of the data order and example sampling (default 1234, as CodeT5). */
  seed?: number;
  progress?: boolean;
}

/** Result of {@link runFinetune}. */
export interface FinetuneRunSummary {
  task: string;
  maskGuided: boolean;
  training: TrainSummary;
  /** Best validation metrics, when the data has a validation split. */
  validation?: Record<string, number>;
  /** Test metrics, when the test split has references. */
  test?: Record<string, number>;
  /** Folder of the saved model. */
  modelDir: string;
}

/**
 * Fine-tunes a CodeT5 model on one task and writes the best model to `<output>/best` (the final
 * one when there is no validation split) and the prediction files to `<output>/predictions`.
 *
 * @throws InvalidInputError for invalid settings or data without a train split, CheckpointError
 *   for missing or malformed files, MismatchError for a module of another base model
 */
export async function runFinetune(options: FinetuneRunOptions): Promise<FinetuneRunSummary> {
  const settings = resolve(options);
  const summary = await finetune({
    architecture,
    model: settings.model,
    task: createTask(settings),
    data: settings.data,
    module: settings.module,
    full: settings.module === undefined,
    outDir: path.join(settings.output, 'best'),
    runDir: settings.output,
    epochs: settings.epochs,
    maxSteps: settings.maxSteps,
    batchSize: settings.batchSize,
    evalBatchSize: settings.evalBatchSize,
    lr: settings.lr,
    weightDecay: settings.weightDecay,
    warmupRatio: settings.warmupRatio,
    maxExamples: settings.maxExamples,
    // the released data has a validation split; without one the final model is kept
    validationFraction: 0,
    patience: 0,
    seed: settings.seed,
    progress: settings.progress,
  });
  return { task: summary.task, maskGuided: summary.strategy === 'module', training: summary.training, validation: summary.validation, test: summary.test, modelDir: summary.modelDir };
}

function createTask(settings: ResolvedOptions): GenerationTask {
  const limits = withoutUndefined({ maxSourceLength: settings.maxSourceLength, maxTargetLength: settings.maxTargetLength, numBeams: settings.numBeams });
  if (settings.task === 'summarize') return createSummarizeTask({ language: settings.language, ...limits });
  if (settings.task === 'concode') return createConcodeTask(limits);
  throw new InvalidInputError(`Unknown task "${settings.task}": codet5 runs summarize or concode`);
}

type ResolvedOptions = FinetuneRunOptions &
  Required<Pick<FinetuneRunOptions, 'epochs' | 'batchSize' | 'evalBatchSize' | 'lr' | 'weightDecay' | 'warmupRatio' | 'seed' | 'progress'>>;

function resolve(options: FinetuneRunOptions): ResolvedOptions {
  const settings = {
    epochs: 1,
    batchSize: 8,
    evalBatchSize: 8,
    lr: options.task === 'concode' ? 1e-4 : 5e-5,
    weightDecay: 0,
    warmupRatio: 0.1,
    seed: 1234,
    progress: true,
    ...withoutUndefined(options),
  } as ResolvedOptions;
  for (const name of ['task', 'model', 'data', 'output'] as const) {
    if (typeof settings[name] !== 'string' || settings[name] === '') throw new InvalidInputError(`The ${name} setting is missing; it is required`);
  }
  if (!(settings.lr > 0)) throw new InvalidInputError(`lr must be positive, not ${settings.lr}`);
  if (!(settings.weightDecay >= 0)) throw new InvalidInputError(`weightDecay must be zero or positive, not ${settings.weightDecay}`);
  if (!(settings.warmupRatio >= 0 && settings.warmupRatio < 1)) throw new InvalidInputError(`warmupRatio must be in [0, 1), not ${settings.warmupRatio}`);
  if (!Number.isSafeInteger(settings.evalBatchSize) || settings.evalBatchSize < 1) {
    throw new InvalidInputError(`evalBatchSize must be a positive integer, not ${settings.evalBatchSize}`);
  }
  return settings;
}
