/**
 * The `codet5:modularize` workflow: learn a module (binary masks over every linear layer) of a
 * CodeT5 model on one CodeSearchNet language with span corruption, through the generic
 * modularizer of `@modularevo/masking`. This file keeps the CodeT5 defaults and reads the
 * CodeSearchNet corpus.
 */
import { InvalidInputError, type TrainSummary } from '@modularevo/core-tensor';
import { modularize } from '@modularevo/masking';

import { architecture } from '../architecture';
import { readCodeSearchNetTexts } from '../corpus';
import { withoutUndefined } from './run-options';


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

/**
 * Learns a module of a CodeT5 model on one language of CodeSearchNet (the test split gives the
 * test loss) and writes it to `<output>/wrr_<threshold>` and `<output>/final`, with the run
 * files in `<output>`.
 *
 * @throws InvalidInputError for invalid settings, CheckpointError for missing or malformed files
 */
export async function runModularize(options: ModularizeRunOptions): Promise<ModularizeRunSummary> {
  const settings = resolve(options);
  const read = (split: 'train' | 'test') => readCodeSearchNetTexts(settings.data, settings.domain, { split, maxDocuments: settings.maxDocuments });
  const summary = await modularize({
    architecture,
    model: settings.model,
    domain: settings.domain,
    corpus: { train: await read('train'), test: await read('test') },
    outDir: settings.output,
    blockSize: settings.blockSize,
    batchSize: settings.batchSize,
    lr: settings.lr,
    alpha: settings.alpha,
    epochs: settings.epochs,
    maxSteps: settings.maxSteps,
    warmupRatio: settings.warmupRatio,
    thresholds: settings.thresholds,
    seed: settings.seed,
    maxTrainBlocks: settings.maxBlocks,
    progress: settings.progress,
  });
  return { domain: summary.domain, steps: summary.steps, finalRetentionRate: summary.finalRetentionRate, modules: summary.modules, training: summary.training };
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
