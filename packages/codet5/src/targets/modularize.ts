/**
 * The `codet5:modularize` workflow: learn a module (binary masks over every linear layer) of a
 * CodeT5 model on one CodeSearchNet language with span corruption. The loss is the objective
 * under the masks plus `alpha` times the weight retention rate, and only the mask scores train.
 * A module is saved whenever the retention rate first falls below a threshold, and at the end.
 */
import * as path from 'path';

import * as tf from '@tensorflow/tfjs-core';

import {
  AdamW,
  InvalidInputError,
  createRng,
  getLogger,
  linearScheduleWithWarmup,
  train,
  writeJsonAtomic,
  writeRunConfig,
  type TrainSummary,
} from '@modularevo/core-tensor';
import { MaskScores, maskedLinear, moduleFromScores, saveModule, weightRetention, type PreparedCorpus } from '@modularevo/masking';

import { architecture } from '../architecture';
import { readCodeSearchNetTexts } from '../corpus';
import { codeT5BaseModel } from '../module-base';
import { asCodeT5 } from '../objective';
import type { CodeT5PretrainedModel } from '../pretrained-model';
import { dropoutSeed, withoutUndefined } from './run-options';

const log = getLogger('codet5');

/** Settings of {@link runModularize}; defaults follow ModularEvo's CodeT5 modules where it states them. */
export interface ModularizeRunOptions {
  /** Hugging Face CodeT5 model folder. */
  model: string;
  /** CodeSearchNet folder (`<lang>/final/jsonl/<split>/`). */
  data: string;
  /** Language whose functions form the corpus; it names the module's domain. */
  domain: string;
  /** Run folder for `config.json`, `metrics.jsonl`, `summary.json` and the modules. */
  output: string;
  /** Tokens per block before corruption (default 256). */
  blockSize?: number;
  /** Blocks per step (default 8). */
  batchSize?: number;
  /** Learning rate of the mask scores (default 1e-3, as the published CodeT5 modules). */
  lr?: number;
  /** Weight of the retention rate in the loss (default 10, as the published CodeT5 modules). */
  alpha?: number;
  /** Passes over the corpus (default 2); `maxSteps` may end training sooner. */
  epochs?: number;
  maxSteps?: number;
  /** Fraction of the steps with a rising learning rate (default 0.1). */
  warmupRatio?: number;
  /** Retention rates at which snapshots are saved (default 0.75, 0.5, 0.25). */
  thresholds?: number[];
  /** Seed of the mask initialisation and of every corruption draw (default 1203). */
  seed?: number;
  /** Caps on the corpus, to bound a run. */
  maxDocuments?: number;
  maxBlocks?: number;
  progress?: boolean;
}

/** Result of {@link runModularize}. */
export interface ModularizeRunSummary {
  domain: string;
  steps: number;
  finalRetentionRate: number;
  /** Module folders written, by threshold (`final` for the end of training). */
  modules: Record<string, string>;
  training: TrainSummary;
}

// TODO: run this through the generic modularizer of @modularevo/masking once it exists. That
// modularizer composes the same pieces (scores, masked linear, retention loss, train) for any
// architecture.
/**
 * Learns a module of a CodeT5 model on one language of CodeSearchNet and writes it to
 * `<output>/module_wrr_<threshold>` and `<output>/module_final`.
 *
 * @throws InvalidInputError for invalid settings, CheckpointError for missing or malformed files
 */
export async function runModularize(options: ModularizeRunOptions): Promise<ModularizeRunSummary> {
  const settings = resolve(options);

  // corpus and model, before anything is written
  const texts = await readCodeSearchNetTexts(settings.data, settings.domain, { maxDocuments: settings.maxDocuments });
  const model = asCodeT5(await architecture.load(settings.model));
  try {
    const corpus = architecture.objective.prepare(model, texts, {
      blockSize: settings.blockSize,
      batchSize: settings.batchSize,
      seed: settings.seed,
      maxBlocks: settings.maxBlocks,
    });
    writeRunConfig(settings.output, { architecture: architecture.name, objective: architecture.objective.name, ...settings });

    const summary = await learnModule(model, corpus, settings);
    writeJsonAtomic(path.join(settings.output, 'summary.json'), summary);
    return summary;
  } finally {
    model.dispose();
  }
}

/** Trains mask scores on `corpus` and saves the snapshots and the final module. */
async function learnModule(model: CodeT5PretrainedModel, corpus: PreparedCorpus, settings: ResolvedOptions): Promise<ModularizeRunSummary> {
  const base = codeT5BaseModel(model);
  const scores = MaskScores.initialize(model.linearLayers(), createRng(settings.seed).fork('mask-init'));
  const optimizer = new AdamW(scores.variables(), { lr: settings.lr, weightDecay: 0 });
  const modules: Record<string, string> = {};
  const saveSnapshot = async (key: string, threshold: number | undefined, step: number) => {
    const dir = path.join(settings.output, `module_${key}`);
    const module = await moduleFromScores(scores, { base, domain: settings.domain, threshold, training: { ...settings, step } });
    await saveModule(dir, module, { overwrite: true });
    modules[key] = dir;
  };

  try {
    // learning-rate schedule over the steps that will run
    const stepsPerEpoch = Math.ceil(corpus.numBlocks / settings.batchSize);
    const totalSteps = Math.min(settings.maxSteps ?? Infinity, settings.epochs * stepsPerEpoch);
    const schedule = linearScheduleWithWarmup(Math.round(settings.warmupRatio * totalSteps), totalSteps);

    // the objective under the masks plus alpha times the retention rate
    const linear = maskedLinear(scores);
    const pending = [...settings.thresholds].sort((a, b) => b - a);
    let retention = 1;
    const training = await train({
      epochs: settings.epochs,
      maxSteps: settings.maxSteps,
      parameters: scores.variables(),
      optimizer,
      schedule,
      batches: (epoch) => corpus.batches(epoch),
      lossFn: (batch, { step, microBatch }) => {
        const { lossWrr } = weightRetention(scores);
        const options = { linear, training: true, seed: dropoutSeed(settings.seed, step, microBatch) };
        return tf.add(architecture.objective.loss(model, batch, options), tf.mul(lossWrr, settings.alpha)) as tf.Scalar;
      },
      onStep: async ({ step }) => {
        retention = tf.tidy(() => weightRetention(scores).wrr.dataSync()[0]);
        while (pending.length > 0 && retention <= pending[0]) {
          const threshold = pending.shift()!;
          log.info(`step ${step}: retention ${(retention * 100).toFixed(2)}% reached threshold ${threshold}`);
          await saveSnapshot(`wrr_${threshold}`, threshold, step);
        }
        return { metrics: { wrr: retention } };
      },
      countTokens: () => corpus.tokensPerBatch,
      runDir: settings.output,
      progress: settings.progress,
      label: `modularize ${settings.domain}`,
    });

    await saveSnapshot('final', undefined, training.steps);
    return { domain: settings.domain, steps: training.steps, finalRetentionRate: retention, modules, training };
  } finally {
    optimizer.dispose();
    scores.dispose();
  }
}

type ResolvedOptions = Required<Omit<ModularizeRunOptions, 'maxSteps' | 'maxDocuments' | 'maxBlocks'>> &
  Pick<ModularizeRunOptions, 'maxSteps' | 'maxDocuments' | 'maxBlocks'>;

function resolve(options: ModularizeRunOptions): ResolvedOptions {
  const settings = {
    blockSize: 256,
    batchSize: 8,
    lr: 1e-3,
    alpha: 10,
    epochs: 2,
    warmupRatio: 0.1,
    thresholds: [0.75, 0.5, 0.25],
    seed: 1203,
    progress: true,
    ...withoutUndefined(options),
  } as ResolvedOptions;
  for (const name of ['model', 'data', 'domain', 'output'] as const) {
    if (typeof settings[name] !== 'string' || settings[name] === '') throw new InvalidInputError(`The ${name} setting is missing; it is required`);
  }
  if (!(settings.lr > 0)) throw new InvalidInputError(`lr must be positive, not ${settings.lr}`);
  if (!(settings.alpha >= 0)) throw new InvalidInputError(`alpha must be zero or positive, not ${settings.alpha}`);
  if (!(settings.warmupRatio >= 0 && settings.warmupRatio < 1)) throw new InvalidInputError(`warmupRatio must be in [0, 1), not ${settings.warmupRatio}`);
  for (const threshold of settings.thresholds) {
    if (!(threshold > 0 && threshold < 1)) throw new InvalidInputError(`Thresholds are retention rates strictly between 0 and 1, not ${threshold}`);
  }
  return settings;
}
