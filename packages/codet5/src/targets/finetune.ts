/**
 * The `codet5:finetune` workflow: fine-tune a CodeT5 model on summarize or concode, fully or
 * guided by a module (only the module's entries of masked parameters train, and the shared
 * embedding stays frozen, as ModularEvo's `run_gen_module.py` does). Each epoch ends with a
 * generation-based evaluation on the validation split, and the best model is saved. That model
 * then scores the test split, or only predicts it when it has no references. Predictions go to
 * `<output>/predictions`.
 */
import * as path from 'path';

import * as tf from '@tensorflow/tfjs-core';

import {
  AdamW,
  InvalidInputError,
  getLogger,
  linearScheduleWithWarmup,
  train,
  writeJsonAtomic,
  writeRunConfig,
  type TrainSummary,
} from '@modularevo/core-tensor';
import type { GenerationExample, SplitName } from '@modularevo/datasets';
import { assertMaskedOutUnchanged, loadModule, moduleGradientMasks, type Module } from '@modularevo/masking';

import { architecture } from '../architecture';
import { CODET5_MODULE_FROZEN_PARAMETERS, codeT5BaseModel } from '../module-base';
import { batchSeq2Seq, type Seq2SeqBatch } from '../seq2seq-batches';
import type { CodeT5TaskModel } from '../task-model';
import { createConcodeTask, createSummarizeTask, type GenerationTask } from '../tasks';
import { dropoutSeed, withoutUndefined } from './run-options';

const log = getLogger('codet5');

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

// TODO: run this through the generic fine-tuner of @modularevo/masking once it exists. That
// fine-tuner composes the same pieces (task, gradient masks, train, evaluate) for any
// architecture.
/**
 * Fine-tunes a CodeT5 model on one task and writes the best model to `<output>/best` (the final
 * one when there is no validation split) and the prediction files to `<output>/predictions`.
 *
 * @throws InvalidInputError for invalid settings or data without a train split, CheckpointError
 *   for missing or malformed files, MismatchError for a module of another base model
 */
export async function runFinetune(options: FinetuneRunOptions): Promise<FinetuneRunSummary> {
  const settings = resolve(options);
  const task = createTask(settings);

  // data and model, before anything is written
  const data = await task.load(settings.data, { maxExamples: settings.maxExamples, seed: settings.seed });
  if (!data.splits.train?.length) throw new InvalidInputError(`${settings.data} has no train split for ${task.info.name}`);
  const model = task.createModel(await architecture.load(settings.model), data, { seed: settings.seed });
  try {
    const module = settings.module ? loadModule(settings.module, { base: codeT5BaseModel(model.base), scores: false }) : undefined;
    writeRunConfig(settings.output, { architecture: architecture.name, ...settings });

    const summary = await fineTune(task, model, data.splits, module, settings);
    writeJsonAtomic(path.join(settings.output, 'summary.json'), summary);
    return summary;
  } finally {
    model.dispose();
  }
}

/** Trains `model`, evaluating every epoch, then scores or predicts the test split. */
async function fineTune(
  task: GenerationTask,
  model: CodeT5TaskModel,
  splits: Partial<Record<SplitName, GenerationExample[]>>,
  module: Module | undefined,
  settings: ResolvedOptions,
): Promise<FinetuneRunSummary> {
  const predictionsDir = path.join(settings.output, 'predictions');
  const bestDir = path.join(settings.output, 'best');
  const validation = splits.validation?.length ? task.batches(model, splits.validation, { batchSize: settings.evalBatchSize }) : undefined;

  // trained parameters and, for a module, their gradient masks
  const { parameters, gradientMasks, before } = trainingSetup(model, module);
  const optimizer = new AdamW(parameters, { lr: settings.lr, weightDecay: settings.weightDecay });
  let training: TrainSummary;
  let best: Record<string, number> | undefined;
  try {
    const encoded = task.encode(model, splits.train!);
    const stepsPerEpoch = Math.ceil(encoded.length / settings.batchSize);
    const totalSteps = Math.min(settings.maxSteps ?? Infinity, settings.epochs * stepsPerEpoch);
    const padId = model.base.tokenizer().padId ?? model.base.t5.config.pad_token_id;

    training = await train<Seq2SeqBatch>({
      epochs: settings.epochs,
      maxSteps: settings.maxSteps,
      parameters,
      optimizer,
      gradientMasks,
      schedule: linearScheduleWithWarmup(Math.round(settings.warmupRatio * totalSteps), totalSteps),
      batches: (epoch) => batchSeq2Seq(encoded, padId, settings.batchSize, settings.seed + epoch),
      lossFn: (batch, { step, microBatch }) => model.loss(batch, { training: true, seed: dropoutSeed(settings.seed, step, microBatch) }),
      countTokens: (batch) => task.tokens(batch),
      evaluate: validation ? () => model.evaluate(validation, { predictionsDir, split: 'validation', progress: settings.progress }) : undefined,
      primaryMetric: task.info.primaryMetric,
      mode: 'max',
      onBest: async ({ metrics }) => {
        best = metrics;
        await model.save(bestDir, { overwrite: true });
      },
      runDir: settings.output,
      progress: settings.progress,
      label: `finetune ${task.info.name}`,
    });
  } finally {
    optimizer.dispose();
    tf.dispose([...(gradientMasks?.values() ?? [])]);
  }

  // a module's masked-out entries must not have moved
  if (module && before) {
    const report = assertMaskedOutUnchanged(before, model.base.stateDict(), module);
    log.info(`mask-guided fine-tuning changed ${(report.changedFraction * 100).toFixed(2)}% of the base entries, none outside module "${module.domain}"`);
  }

  // without validation the final model is the result
  if (!validation) await model.save(bestDir, { overwrite: true });
  const test = splits.test?.length ? await testSplit(task, bestDir, splits.test, predictionsDir, settings) : undefined;
  return { task: task.info.name, maskGuided: module !== undefined, training, validation: best, test, modelDir: bestDir };
}

/** Scores the saved model on the test split, or only writes predictions when it has no references. */
async function testSplit(
  task: GenerationTask,
  modelDir: string,
  examples: GenerationExample[],
  predictionsDir: string,
  settings: ResolvedOptions,
): Promise<Record<string, number> | undefined> {
  const model = await task.loadModel(modelDir);
  try {
    const batches = task.batches(model, examples, { batchSize: settings.evalBatchSize });
    const options = { predictionsDir, split: 'test', progress: settings.progress };
    if (examples.some((example) => example.target.trim() !== '')) return await model.evaluate(batches, options);

    log.info(`${task.info.name}: the test split has no references, so only predictions are written`);
    await model.predict(batches, options);
    return undefined;
  } finally {
    model.dispose();
  }
}

/** Returns the parameters to train and, for mask-guided fine-tuning, the masks by variable name and a copy of the weights. */
function trainingSetup(model: CodeT5TaskModel, module: Module | undefined) {
  const params = model.base.params;
  if (!module) return { parameters: [...params.values()], gradientMasks: undefined, before: undefined };

  const frozen = new Set(CODET5_MODULE_FROZEN_PARAMETERS);
  const parameters = [...params].filter(([name]) => !frozen.has(name)).map(([, variable]) => variable);
  const byName = moduleGradientMasks(module, [...params.keys()].filter((name) => !frozen.has(name)));
  const gradientMasks = new Map([...byName].map(([name, mask]) => [params.get(name)!.name, mask]));
  log.info(`mask-guided fine-tuning: ${byName.size} masked parameters, ${parameters.length - byName.size} trained in full, frozen: ${[...frozen].join(', ')}`);
  return { parameters, gradientMasks, before: model.base.stateDict() };
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
