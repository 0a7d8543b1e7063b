/**
 * The fine-tuner: trains a task head on a base model of any architecture, with every base
 * parameter (full fine-tuning) or with only the base weights a module keeps (mask-guided
 * fine-tuning). It keeps the model that scores best on the validation split, scores it on the
 * test split and saves it as a Hugging Face model folder.
 */
import * as path from 'path';

import * as tf from '@tensorflow/tfjs-core';
import {
  AdamW,
  createRng,
  createSchedule,
  getLogger,
  InvalidInputError,
  train,
  writeJsonAtomic,
  writeRunConfig,
  type StateDict,
  type TrainSummary,
} from '@modularevo/core-tensor';
import type { SplitName } from '@modularevo/datasets';

import type { Architecture, ArchitectureTask, PretrainedModel, TaskDataset, TaskModel } from '../architecture';
import { checkParametersInBase, checkSameBaseModel, describePretrainedModel } from '../base-model';
import { assertMaskedOutUnchanged, parameterChangeReport } from '../gradient-masks';
import type { Module } from '../module';
import { loadModule } from '../module-file';
import { loadBaseModel } from '../workflow/base-model';
import { checkOutputFolder, checkRunFolder, clearRunFolder } from '../workflow/folders';
import { formatMiB, MemoryMonitor, throughput, type PeakMemory, type Throughput } from '../workflow/resources';
import { warmupStepsOf } from '../workflow/checks';
import { dropoutSeed } from '../workflow/seeds';
import { loadFinetuneData, majorityBaseline, type MajorityBaseline } from './data';
import { resolveFinetuneOptions, type FinetuneOptions, type ResolvedFinetuneOptions } from './options';
import { trainableParameters, type TrainableCounts } from './trainable';

const log = getLogger('finetune');

/** File of the run summary in the run folder. */
export const FINETUNE_SUMMARY_FILE = 'summary.json';

/** Result of {@link finetune}, also written to `<runDir>/summary.json`. */
export interface FinetuneSummary {
  architecture: string;
  task: string;
  strategy: 'module' | 'full';
  /** The module that guided fine-tuning, or null for full fine-tuning. */
  module: { dir: string | null; domain: string; weightRetentionRate: number; threshold: number | null } | null;
  labels: string[];
  /** Examples per split, after holding out validation examples. */
  examples: Partial<Record<SplitName, number>>;
  /** Validation metrics of the kept (best) model; absent without a validation split. */
  validation?: Record<string, number>;
  /** Test metrics of the kept model; absent without a test split or references. */
  test?: Record<string, number>;
  /** Accuracy of always predicting the most frequent test class, for classification tasks. */
  majorityBaseline?: MajorityBaseline;
  /** Base entries that differ bit for bit from the base model, over all base parameters. */
  parameterChanges: { total: number; changed: number; changedFraction: number; maskedOutChanged: number };
  trainable: TrainableCounts;
  /** Step of the kept model (the last step without validation). */
  keptStep: number;
  throughput: Throughput;
  memory: PeakMemory;
  training: TrainSummary;
  modelDir: string;
  runDir: string;
}

/**
 * Fine-tunes `options.model` on a task and writes the model that scored best on the validation
 * split to `options.outDir`, with logs in the run folder. Under a module, no base weight outside
 * the module moves; this is checked bit for bit before anything is saved.
 *
 * Settings, folders, data, model and module are all checked before anything is written.
 *
 * @throws InvalidInputError for an invalid setting, an unknown task, data without a train split,
 *   or output folders of an earlier run
 * @throws MismatchError for a label outside the label set, a module of another base model, or a
 *   masked-out weight that moved
 * @throws CheckpointError for missing or malformed data, model or module files
 */
export async function finetune(options: FinetuneOptions): Promise<FinetuneSummary> {
  const settings = resolveFinetuneOptions(options);
  const { architecture } = options;
  const task = typeof options.task === 'string' ? architecture.tasks[settings.task] : options.task;
  if (!task) {
    throw new InvalidInputError(`Unknown task "${settings.task}" for architecture ${architecture.name}: use one of ${Object.keys(architecture.tasks).join(', ')}`);
  }

  // folders, data, model and module, before anything is written
  checkOutputFolder(settings.outDir, 'model folder', settings.overwrite);
  checkRunFolder(settings.runDir, { overwrite: settings.overwrite });
  const data = await loadFinetuneData(task, options.data, settings, { labels: options.labels, maxExamples: options.maxExamples });
  const { model: base, owned } = await loadBaseModel(architecture, options.model);
  let taskModel: TaskModel | undefined;
  try {
    const module = options.module === undefined ? undefined : guidingModule(options.module, base);
    taskModel = task.createModel(base, data, { seed: settings.seed });

    if (settings.overwrite) clearRunFolder(settings.runDir);
    writeRunConfig(settings.runDir, runConfiguration(architecture, options, settings, data, module));
    const run = new FineTuningRun(architecture, task, taskModel, data, module, settings);
    const summary: FinetuneSummary = {
      ...(await run.execute()),
      module: module ? { dir: typeof options.module === 'string' ? options.module : null, domain: module.domain, weightRetentionRate: module.weightRetentionRate, threshold: module.threshold ?? null } : null,
    };
    writeJsonAtomic(path.join(settings.runDir, FINETUNE_SUMMARY_FILE), summary);
    return summary;
  } finally {
    if (owned) (taskModel ?? base).dispose();
    else if (taskModel) for (const variable of taskModel.head.values()) variable.dispose();
  }
}

/** Parameter values copied to host memory: the base model's and the head's. */
interface ParameterSnapshot {
  base: StateDict;
  head: Map<string, Float32Array>;
}

/** The state of one fine-tuning run; `execute` trains, checks, tests and saves. */
class FineTuningRun {
  private readonly memory = new MemoryMonitor();

  constructor(
    private readonly architecture: Architecture,
    private readonly task: ArchitectureTask,
    private readonly model: TaskModel,
    private readonly data: TaskDataset,
    private readonly module: Module | undefined,
    private readonly settings: ResolvedFinetuneOptions,
  ) {}

  async execute(): Promise<Omit<FinetuneSummary, 'module'>> {
    const { settings, task, model, module } = this;
    const { parameters, gradientMasks, counts } = trainableParameters(this.architecture, model, module);
    const before = copyStateDict(model.base.stateDict());
    const optimizer = new AdamW(parameters, { lr: settings.lr, weightDecay: settings.weightDecay });
    try {
      this.memory.sample();
      const { training, best } = await this.train(parameters, optimizer, gradientMasks);

      // keep the model that scored best on validation
      if (best) restore(model, best.snapshot);
      const changes = module ? assertMaskedOutUnchanged(before, model.base.stateDict(), module) : parameterChangeReport(before, model.base.stateDict());
      if (module) log.info(`no base entry outside module "${module.domain}" moved (checked bit for bit)`);

      // test split, then the model folder
      const test = await this.testMetrics();
      const baseline = majorityBaseline(task, this.data.splits.test, this.data.labels);
      await model.save(settings.outDir, { overwrite: settings.overwrite });
      this.memory.sample();

      const summary = {
        architecture: this.architecture.name,
        task: task.info.name,
        strategy: settings.strategy,
        labels: this.data.labels,
        examples: Object.fromEntries(Object.entries(this.data.splits).map(([split, examples]) => [split, examples?.length ?? 0])),
        validation: best?.metrics,
        test,
        majorityBaseline: baseline,
        parameterChanges: { total: changes.total, changed: changes.changed, changedFraction: changes.changedFraction, maskedOutChanged: changes.maskedOutChanged },
        trainable: counts,
        keptStep: best?.step ?? training.steps,
        throughput: throughput(training.steps, training.tokens ?? 0, training.trainSeconds),
        memory: this.memory.result(),
        training,
        modelDir: settings.outDir,
        runDir: settings.runDir,
      };
      this.logResult(summary);
      return summary;
    } finally {
      optimizer.dispose();
      tf.dispose([...gradientMasks.values()]);
    }
  }

  private async train(parameters: tf.Variable[], optimizer: AdamW, gradientMasks: Map<string, tf.Tensor>) {
    const { settings, task, model } = this;
    const trainExamples = this.data.splits.train!;
    const validationExamples = this.data.splits.validation;
    const validation = validationExamples?.length
      ? task.batches(model, validationExamples, { batchSize: settings.evalBatchSize, maxLength: settings.maxLength, split: 'validation' })
      : undefined;

    // warm-up, then the schedule over the steps that will run
    const stepsPerEpoch = Math.ceil(Math.ceil(trainExamples.length / settings.batchSize) / settings.gradientAccumulationSteps);
    const totalSteps = Math.min(settings.maxSteps ?? Infinity, settings.epochs === undefined ? Infinity : settings.epochs * stepsPerEpoch);
    const warmupSteps = warmupStepsOf(settings, totalSteps);
    if (warmupSteps > 0 && warmupSteps >= totalSteps) {
      // the first step runs at learning rate 0, so a run this short leaves the model as it was
      log.warn(`${warmupSteps} warm-up steps cover all ${totalSteps} training steps, so the learning rate never reaches its peak; lower --warmup-steps or add training data`);
    }
    const schedule = createSchedule(settings.scheduler, { warmupSteps, trainingSteps: totalSteps });
    const order = createRng(settings.seed).fork('train-order');

    let best: { step: number; metrics: Record<string, number>; snapshot: ParameterSnapshot } | undefined;
    const training = await train({
      epochs: settings.epochs,
      maxSteps: settings.maxSteps,
      parameters,
      optimizer,
      gradientMasks,
      schedule,
      maxGradNorm: settings.maxGradNorm,
      gradientAccumulationSteps: settings.gradientAccumulationSteps,
      batches: (epoch) => task.batches(model, trainExamples, { batchSize: settings.batchSize, maxLength: settings.maxLength, shuffleSeed: order.fork(`epoch-${epoch}`).seed, split: 'train' }),
      lossFn: (batch, { step, microBatch }) => model.loss(batch, { training: true, seed: dropoutSeed(settings.seed, step, microBatch) }),
      evaluate: validation ? () => model.evaluate(validation, { split: 'validation', predictionsDir: this.predictionsDir, progress: false }) : undefined,
      evalEvery: settings.evalEvery,
      primaryMetric: task.info.primaryMetric,
      mode: 'max',
      earlyStoppingPatience: validation ? settings.patience : undefined,
      onBest: ({ step, metrics }) => {
        best = { step, metrics, snapshot: takeSnapshot(model) };
      },
      onStep: () => this.memory.sample(),
      countTokens: (batch) => task.tokens(batch),
      runDir: settings.runDir,
      progress: settings.progress,
      label: `finetune ${task.info.name}`,
    });
    return { training, best };
  }

  private get predictionsDir(): string {
    return path.join(this.settings.runDir, 'predictions');
  }

  /** Scores the test split, or only writes its predictions when it has no references. */
  private async testMetrics(): Promise<Record<string, number> | undefined> {
    const { task, model, settings } = this;
    const examples = this.data.splits.test;
    if (!examples?.length) return undefined;

    const batches = task.batches(model, examples, { batchSize: settings.evalBatchSize, maxLength: settings.maxLength, split: 'test' });
    const options = { split: 'test', predictionsDir: this.predictionsDir, progress: settings.progress };
    if (task.hasReferences?.(examples) === false && model.predict) {
      log.info(`${task.info.name}: the test split has no references, so only predictions are written to ${this.predictionsDir}`);
      await model.predict(batches, options);
      return undefined;
    }
    return model.evaluate(batches, options);
  }

  private logResult(summary: Omit<FinetuneSummary, 'module'>): void {
    const metric = this.task.info.primaryMetric;
    const test = summary.test?.[metric];
    const baseline = summary.majorityBaseline;
    log.info(
      `finetune ${summary.task} (${summary.strategy}): test ${metric} ${test === undefined ? 'n/a' : test.toFixed(4)}` +
        (baseline ? ` against the majority-class baseline ${baseline.accuracy.toFixed(4)} ("${baseline.label}")` : '') +
        `; ${(summary.parameterChanges.changedFraction * 100).toFixed(2)}% of the base entries changed; ` +
        `${summary.throughput.stepsPerSecond.toFixed(2)} steps/s, ${summary.throughput.tokensPerSecond.toFixed(0)} tokens/s; ` +
        `peak rss ${formatMiB(summary.memory.rssBytes)}, peak tensors ${formatMiB(summary.memory.tensorBytes)}`,
    );
  }
}

/**
 * Returns the module after checking it belongs to `base`: the same weight hash, and every
 * masked parameter present there with the mask's shape.
 *
 * @throws MismatchError for a module of another base model
 * @throws CheckpointError for a module folder that cannot be read
 */
function guidingModule(module: string | Module, base: PretrainedModel): Module {
  const identity = describePretrainedModel(base);
  if (typeof module === 'string') return loadModule(module, { base: identity, scores: false });

  const subject = `Module "${module.domain}"`;
  checkSameBaseModel(subject, module.baseModel, identity);
  checkParametersInBase(subject, [...module.masks].map(([name, mask]) => ({ name, shape: mask.shape })), identity);
  return module;
}

/** Copies tensor data out of a state dict, so later training cannot change what it holds. */
function copyStateDict(state: StateDict): StateDict {
  const copy: StateDict = new Map();
  for (const [name, tensor] of state) copy.set(name, { ...tensor, shape: [...tensor.shape], data: tensor.data.slice() });
  return copy;
}

function takeSnapshot(model: TaskModel): ParameterSnapshot {
  const head = new Map<string, Float32Array>();
  for (const [name, variable] of model.head) head.set(name, Float32Array.from(variable.dataSync() as Float32Array));
  return { base: copyStateDict(model.base.stateDict()), head };
}

function restore(model: TaskModel, snapshot: ParameterSnapshot): void {
  model.base.assign(snapshot.base);
  for (const [name, variable] of model.head) {
    const values = snapshot.head.get(name)!;
    tf.tidy(() => variable.assign(tf.tensor(values, variable.shape, 'float32')));
  }
}

function runConfiguration(
  architecture: Architecture,
  options: FinetuneOptions,
  settings: ResolvedFinetuneOptions,
  data: TaskDataset,
  module: Module | undefined,
): Record<string, unknown> {
  const { outDir, runDir, ...rest } = settings;
  return {
    architecture: architecture.name,
    model: typeof options.model === 'string' ? options.model : (options.model.sourceDir ?? null),
    data: typeof options.data === 'object' && 'splits' in options.data ? 'in memory' : options.data,
    module: module ? { dir: typeof options.module === 'string' ? options.module : null, domain: module.domain, weight_retention_rate: module.weightRetentionRate } : null,
    labels: data.labels,
    examples: Object.fromEntries(Object.entries(data.splits).map(([split, examples]) => [split, examples?.length ?? 0])),
    ...rest,
    out_dir: outDir,
    run_dir: runDir,
  };
}
