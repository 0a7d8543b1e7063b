/**
 * The modularizer: learns a module (a binary mask over every maskable linear layer) of a
 * pretrained model on one domain's corpus, for any architecture. The loss is the architecture's
 * language-modelling objective under the masks plus `alpha` times the retention loss. Only the
 * mask scores train (AdamW, clipped to a global norm of 1, linear warm-up). The model's weights
 * are never given to the optimizer, and the end of the run checks that they did not change.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';

import * as tf from '@tensorflow/tfjs-core';
import type { CorpusSplit } from '@modularevo/datasets';
import {
  AdamW,
  createRng,
  createSchedule,
  getLogger,
  InvalidInputError,
  RUN_CONFIG_FILE,
  saveTrainingCheckpoint,
  TRAINING_CHECKPOINT_DIR,
  train,
  writeJsonAtomic,
  writeRunConfig,
  type LinearLayer,
  type StepAction,
  type TrainSummary,
} from '@modularevo/core-tensor';

import type { Architecture, PreparedCorpus, PretrainedModel } from '../architecture';
import { describePretrainedModel, hashWeights, type BaseModel } from '../base-model';
import { maskedLinear } from '../masked-linear';
import { retainedEntries, weightRetention } from '../retention';
import { MaskScores } from '../scores';
import { loadBaseModel, maskableLayers } from '../workflow/base-model';
import { checkRunFolder, clearRunFolder } from '../workflow/folders';
import { formatMiB, MemoryMonitor, throughput, type PeakMemory, type Throughput } from '../workflow/resources';
import { warmupStepsOf } from '../workflow/checks';
import { dropoutSeed } from '../workflow/seeds';
import { readModularizationCorpus, type CorpusTexts } from './corpus';
import { evaluateLanguageModel, type LanguageModelEvaluation } from './lm-evaluation';
import { resolveModularizeOptions, type ModularizeOptions, type ResolvedModularizeOptions } from './options';
import { FINAL_MODULE, snapshotName, SnapshotWriter, type SnapshotRecord } from './snapshots';

const log = getLogger('modularize');

/** File of the run summary in the run folder. */
export const SUMMARY_FILE = 'summary.json';

/** Result of {@link modularize}, also written to `<runDir>/summary.json`. */
export interface ModularizeSummary {
  architecture: string;
  domain: string;
  /** Optimizer steps completed, those of an interrupted run included. */
  steps: number;
  /** Retention rate of the final module. */
  finalRetentionRate: number;
  /** Module folders by name (`wrr_0.75`, ..., `final`). */
  modules: Record<string, string>;
  /** Every saved module with its step, retention rate and test loss, in the order saved. */
  snapshots: SnapshotRecord[];
  /** Test loss of the unmasked model. */
  modelEvaluation: LanguageModelEvaluation;
  corpus: { trainDocuments: number; testDocuments: number; trainBlocks: number; testBlocks: number; sources: CorpusTexts['sources'] };
  /** Speed of the training steps of this call (snapshots and evaluations excluded). */
  throughput: Throughput;
  /** Peak memory over this call. */
  memory: PeakMemory;
  training: TrainSummary;
}

/**
 * Learns a module of `options.model` on `options.corpus` and writes it to
 * `<outDir>/wrr_<threshold>/` (the first time the retention rate falls to or below each
 * threshold) and `<outDir>/final/`. Every module records its language-modelling loss on the
 * test split next to the unmasked model's. Every step writes a line to `<runDir>/metrics.jsonl`:
 * `loss`, `lm_loss` and `loss_wrr` of the step's forward pass and `wrr` after its update. The
 * result goes to `<runDir>/summary.json`.
 *
 * Settings, folders, corpus and model are all checked before anything is written.
 *
 * @throws InvalidInputError for an invalid setting (a threshold outside (0, 1), ...), an empty
 *   corpus split, a corpus shorter than one block, or output folders of an earlier run
 * @throws CheckpointError for a missing corpus, a record without `text`, or a model folder that
 *   does not load
 * @throws MismatchError for a model folder of another architecture
 */
export async function modularize(options: ModularizeOptions): Promise<ModularizeSummary> {
  const settings = resolveModularizeOptions(options);
  const { architecture } = options;

  // folders, corpus and model, before anything is written
  checkFolders(settings, architecture);
  const readSplit = architecture.readCorpus
    ? (source: string, split: CorpusSplit) => architecture.readCorpus!(source, split, { domain: settings.domain, maxDocuments: settings.maxDocuments })
    : undefined;
  const texts = await readModularizationCorpus(options.corpus, { maxDocuments: settings.maxDocuments, readSplit });
  const { model, owned } = await loadBaseModel(architecture, options.model);
  try {
    const corpusOptions = { blockSize: settings.blockSize, batchSize: settings.batchSize, seed: settings.seed };
    const trainCorpus = architecture.objective.prepare(model, texts.train, { ...corpusOptions, maxBlocks: settings.maxTrainBlocks });
    const testCorpus = architecture.objective.prepare(model, texts.test, { ...corpusOptions, maxBlocks: settings.maxEvalBlocks });
    const layers = maskableLayers(model, architecture.taskHeadPattern);
    const base = describePretrainedModel(model);

    // the run folder and the modules folder
    if (settings.overwrite) removeEarlierRun(settings);
    fs.mkdirSync(settings.outDir, { recursive: true });
    writeRunConfig(settings.runDir, runConfiguration(architecture, options, settings, texts, trainCorpus, testCorpus));

    const run = new ModularizationRun(architecture, model, base, layers, trainCorpus, testCorpus, settings);
    const summary = await run.execute();
    const result: ModularizeSummary = {
      ...summary,
      corpus: {
        trainDocuments: texts.train.length,
        testDocuments: texts.test.length,
        trainBlocks: trainCorpus.numBlocks,
        testBlocks: testCorpus.numBlocks,
        sources: texts.sources,
      },
    };
    writeJsonAtomic(path.join(settings.runDir, SUMMARY_FILE), result);
    return result;
  } finally {
    if (owned) model.dispose();
  }
}

/** The state of one modularization run; `execute` trains and saves the modules. */
class ModularizationRun {
  private readonly memory = new MemoryMonitor();
  // losses of the micro-batches of the step in progress, read after the step
  private readonly stepLosses: { lm: tf.Scalar; retention: tf.Scalar }[] = [];
  private stepsThisCall = 0;
  private pausedMs = 0;

  constructor(
    private readonly architecture: Architecture,
    private readonly model: PretrainedModel,
    private readonly base: BaseModel,
    private readonly layers: LinearLayer[],
    private readonly trainCorpus: PreparedCorpus,
    private readonly testCorpus: PreparedCorpus,
    private readonly settings: ResolvedModularizeOptions,
  ) {}

  async execute(): Promise<Omit<ModularizeSummary, 'corpus'>> {
    const { settings, architecture, model } = this;
    const objective = architecture.objective;

    // scores and their optimizer; nothing else trains
    const scores = MaskScores.initialize(this.layers, createRng(settings.seed).fork('mask-init'), { prefix: scorePrefix(settings.runDir) });
    const optimizer = new AdamW(scores.variables(), { lr: settings.lr, weightDecay: settings.weightDecay });
    try {
      this.memory.sample();
      const modelEvaluation = await evaluateLanguageModel(objective, model, this.testCorpus);
      log.info(`unmasked model on the ${settings.domain} test split: loss ${modelEvaluation.loss.toFixed(4)}, perplexity ${modelEvaluation.perplexity.toFixed(2)}`);

      const snapshots = new SnapshotWriter(
        {
          scores,
          base: this.base,
          domain: settings.domain,
          outDir: settings.outDir,
          training: moduleTraining(architecture, settings),
          modelEvaluation,
          evaluateModule: () => evaluateLanguageModel(objective, model, this.testCorpus, maskedLinear(scores, 'binary')),
        },
        settings.thresholds,
      );
      const training = await this.train(scores, optimizer, snapshots);

      // the final module, then the proof that the model itself did not move
      const final = await snapshots.saveFinal(training.steps);
      this.checkWeightsUnchanged();
      this.memory.sample();

      const result = {
        architecture: architecture.name,
        domain: settings.domain,
        steps: training.steps,
        finalRetentionRate: final.weightRetentionRate,
        modules: Object.fromEntries(snapshots.records.map((record) => [record.name, record.dir])),
        snapshots: snapshots.records,
        modelEvaluation,
        // onStep time (snapshots and their evaluation) counts as training time in `train`, so it is taken out here
        throughput: throughput(this.stepsThisCall, training.tokens ?? 0, Math.max(0, training.trainSeconds - this.pausedMs / 1000)),
        memory: this.memory.result(),
        training,
      };
      log.info(
        `modularize ${settings.domain}: ${result.steps} steps, final retention ${(result.finalRetentionRate * 100).toFixed(2)}%, ` +
          `${result.throughput.stepsPerSecond.toFixed(2)} steps/s, ${result.throughput.tokensPerSecond.toFixed(0)} tokens/s, ` +
          `peak rss ${formatMiB(result.memory.rssBytes)}, peak tensors ${formatMiB(result.memory.tensorBytes)}`,
      );
      return result;
    } finally {
      tf.dispose(this.stepLosses.flatMap((losses) => [losses.lm, losses.retention]));
      optimizer.dispose();
      scores.dispose();
    }
  }

  private async train(scores: MaskScores, optimizer: AdamW, snapshots: SnapshotWriter): Promise<TrainSummary> {
    const { settings, architecture, model, trainCorpus } = this;
    const objective = architecture.objective;
    const linear = maskedLinear(scores, settings.maskForward);

    // warm-up, then linear decay to the last step (or constant)
    const stepsPerEpoch = trainCorpus.batches(0).length;
    const totalSteps = Math.min(settings.maxSteps ?? Infinity, settings.epochs === undefined ? Infinity : settings.epochs * stepsPerEpoch);
    const schedule = createSchedule(settings.scheduler, { warmupSteps: warmupStepsOf(settings, totalSteps), trainingSteps: totalSteps });

    return train({
      epochs: settings.epochs,
      maxSteps: settings.maxSteps,
      batches: (epoch) => trainCorpus.batches(epoch),
      parameters: scores.variables(),
      optimizer,
      schedule,
      maxGradNorm: settings.maxGradNorm,
      lossFn: (batch, { step, microBatch }) => {
        const lmLoss = objective.loss(model, batch, { linear, training: true, seed: dropoutSeed(settings.seed, step, microBatch) });
        const { lossWrr } = weightRetention(scores, settings.retentionLoss);
        this.stepLosses.push({ lm: tf.keep(lmLoss), retention: tf.keep(lossWrr) });
        return tf.add(lmLoss, tf.mul(lossWrr, settings.alpha)) as tf.Scalar;
      },
      onStep: ({ step, epoch }) => this.afterStep(scores, optimizer, snapshots, step, epoch, stepsPerEpoch),
      countTokens: () => trainCorpus.tokensPerBatch,
      runDir: settings.runDir,
      logEvery: 1,
      saveEvery: settings.saveEvery,
      resume: settings.resume,
      progress: settings.progress,
      label: `modularize ${settings.domain}`,
    });
  }

  /** Logs the step's losses and retention rate, and saves the snapshots it reached. */
  private async afterStep(
    scores: MaskScores,
    optimizer: AdamW,
    snapshots: SnapshotWriter,
    step: number,
    epoch: number,
    stepsPerEpoch: number,
  ): Promise<StepAction> {
    this.stepsThisCall += 1;
    const { lm, retention } = await this.takeStepLosses();
    const wrr = retainedEntries(scores) / scores.numEntries;
    this.memory.sample();

    // a snapshot also writes the checkpoint, so a resumed run never repeats it
    const started = Date.now();
    const saved = await snapshots.afterStep(step, wrr);
    if (saved.length > 0) {
      await saveTrainingCheckpoint(path.join(this.settings.runDir, TRAINING_CHECKPOINT_DIR), scores.variables(), optimizer, {
        global_step: step,
        epoch,
        batches_in_epoch: step - epoch * stepsPerEpoch,
        best_metric: null,
        best_step: null,
        evaluations_since_best: 0,
        tokens: step * this.trainCorpus.tokensPerBatch,
      });
    }
    this.pausedMs += Date.now() - started;
    // the losses are those the step was computed from; wrr is the retention after the update
    return { metrics: { lm_loss: lm, loss_wrr: retention, wrr } };
  }

  /** Returns the mean LM and retention losses of the micro-batches of the last step, and frees them. */
  private async takeStepLosses(): Promise<{ lm: number; retention: number }> {
    let lm = 0;
    let retention = 0;
    for (const losses of this.stepLosses) {
      lm += (await losses.lm.data())[0];
      retention += (await losses.retention.data())[0];
      tf.dispose([losses.lm, losses.retention]);
    }
    const count = Math.max(1, this.stepLosses.length);
    this.stepLosses.length = 0;
    return { lm: lm / count, retention: retention / count };
  }

  private checkWeightsUnchanged(): void {
    const after = hashWeights(this.model.stateDict());
    if (after !== this.base.weightsSha256) {
      // only the scores reach the optimizer, so a change here is a bug, not bad input
      throw new Error(`The model weights changed during modularization (SHA-256 ${this.base.weightsSha256} before, ${after} after); only mask scores may train`);
    }
  }
}

/** Checks the run and module folders before anything is read or written. */
function checkFolders(settings: ResolvedModularizeOptions, architecture: Architecture): void {
  checkRunFolder(settings.runDir, { resume: settings.resume, overwrite: settings.overwrite });
  if (fs.existsSync(settings.outDir) && !fs.statSync(settings.outDir).isDirectory()) {
    throw new InvalidInputError(`The module folder ${settings.outDir} is a file; choose a folder path`);
  }
  if (settings.resume) {
    checkResumedConfiguration(settings, architecture);
    return;
  }

  const earlier = earlierModules(settings);
  if (earlier.length > 0 && !settings.overwrite) {
    throw new InvalidInputError(
      `The module folder ${settings.outDir} already contains modules (${earlier.join(', ')}); resume that run, choose another folder, or pass overwrite`,
    );
  }
}

function earlierModules(settings: ResolvedModularizeOptions): string[] {
  const names = [...settings.thresholds.map((threshold) => snapshotName(threshold)), FINAL_MODULE];
  return names.filter((name) => fs.existsSync(path.join(settings.outDir, name)));
}

function removeEarlierRun(settings: ResolvedModularizeOptions): void {
  clearRunFolder(settings.runDir);
  for (const name of earlierModules(settings)) fs.rmSync(path.join(settings.outDir, name), { recursive: true, force: true });
}

// Settings that fix the order of the training blocks; a resumed run must keep them.
const RESUME_FIXED = ['architecture', 'domain', 'seed', 'block_size', 'batch_size', 'max_train_blocks'] as const;

function checkResumedConfiguration(settings: ResolvedModularizeOptions, architecture: Architecture): void {
  const file = path.join(settings.runDir, RUN_CONFIG_FILE);
  if (!fs.existsSync(file)) return;
  const earlier = JSON.parse(fs.readFileSync(file, 'utf8'));
  const now = fixedSettings(architecture, settings);
  for (const name of RESUME_FIXED) {
    if (earlier[name] !== now[name]) {
      throw new InvalidInputError(
        `Cannot resume: ${name} was ${JSON.stringify(earlier[name])} in ${file} but is ${JSON.stringify(now[name])} now; resume with the settings of the interrupted run`,
      );
    }
  }
}

function fixedSettings(architecture: Architecture, settings: ResolvedModularizeOptions): Record<(typeof RESUME_FIXED)[number], unknown> {
  return {
    architecture: architecture.name,
    domain: settings.domain,
    seed: settings.seed,
    block_size: settings.blockSize,
    batch_size: settings.batchSize,
    max_train_blocks: settings.maxTrainBlocks ?? null,
  };
}

/** Settings recorded in every module's `module.json`, with Hugging Face style names. */
function moduleTraining(architecture: Architecture, settings: ResolvedModularizeOptions): Record<string, unknown> {
  return {
    ...fixedSettings(architecture, settings),
    objective: architecture.objective.name,
    learning_rate: settings.lr,
    weight_decay: settings.weightDecay,
    alpha: settings.alpha,
    warmup_steps: settings.warmupSteps ?? null,
    warmup_ratio: settings.warmupRatio,
    lr_scheduler_type: settings.scheduler,
    max_grad_norm: settings.maxGradNorm,
    num_train_epochs: settings.epochs ?? null,
    max_steps: settings.maxSteps ?? null,
    retention_loss: settings.retentionLoss,
    mask_forward: settings.maskForward,
  };
}

function runConfiguration(
  architecture: Architecture,
  options: ModularizeOptions,
  settings: ResolvedModularizeOptions,
  texts: CorpusTexts,
  trainCorpus: PreparedCorpus,
  testCorpus: PreparedCorpus,
): Record<string, unknown> {
  return {
    ...moduleTraining(architecture, settings),
    model: typeof options.model === 'string' ? options.model : (options.model.sourceDir ?? null),
    corpus: texts.sources,
    train_documents: texts.train.length,
    test_documents: texts.test.length,
    train_blocks: trainCorpus.numBlocks,
    test_blocks: testCorpus.numBlocks,
    thresholds: settings.thresholds,
    out_dir: settings.outDir,
    save_every: settings.saveEvery,
    max_eval_blocks: settings.maxEvalBlocks ?? null,
  };
}

/**
 * Returns the prefix of the score variables. The resumable checkpoint is keyed by variable name,
 * so a resumed run must use the same names; deriving them from the run folder does that.
 */
function scorePrefix(runDir: string): string {
  return `modularize-${createHash('sha256').update(path.resolve(runDir)).digest('hex').slice(0, 16)}`;
}
