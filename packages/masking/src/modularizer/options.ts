/** Settings of {@link modularize}, their defaults, and the checks made before any work starts. */
import { InvalidInputError } from '@modularevo/core-tensor';

import type { Architecture, PretrainedModel } from '../architecture';
import type { MaskForward, RetentionLoss } from '../mask-modes';
import { checkThreshold } from '../module';
import { count, fraction, nonNegative, optionalCount, positive, requireText, seed } from '../workflow/checks';
import type { CorpusSource } from './corpus';

/** Learning-rate schedules of the modularizer, as Hugging Face `lr_scheduler_type` names them. */
export const MODULARIZE_SCHEDULERS = ['linear', 'constant_with_warmup'] as const;

/** A learning-rate schedule name from {@link MODULARIZE_SCHEDULERS}. */
export type ModularizeScheduler = (typeof MODULARIZE_SCHEDULERS)[number];

/** Settings of one modularization run. Step counts are optimizer steps. */
export interface ModularizeOptions {
  architecture: Architecture;
  /** Base model folder, or a loaded model (which the caller keeps and disposes). */
  model: string | PretrainedModel;
  /** Name of the domain the corpus covers (`math`, `law`, ...); it names the module. */
  domain: string;
  /** Training and test texts of the domain; see {@link CorpusSource}. */
  corpus: CorpusSource;
  /** Folder of the modules: `wrr_<threshold>/` per snapshot and `final/`. */
  outDir: string;
  /** Folder of `config.json`, `metrics.jsonl`, `summary.json` and the resumable checkpoint (default `outDir`). */
  runDir?: string;
  /** Retention rates, each strictly between 0 and 1, at which a snapshot is saved (default 0.75, 0.5, 0.25). */
  thresholds?: number[];
  /** Weight of the retention loss: loss = LM loss + alpha * loss_wrr (default 1). */
  alpha?: number;
  /** AdamW learning rate of the mask scores (default 0.005). */
  lr?: number;
  /** AdamW weight decay of the mask scores (default 0). */
  weightDecay?: number;
  /** Steps over which the learning rate rises from 0 (default 0; the original runs used 2000 on GPT-Neo 125M). */
  warmupSteps?: number;
  /** Fraction of the training steps over which the learning rate rises, when `warmupSteps` is not given (Hugging Face `warmup_ratio`). */
  warmupRatio?: number;
  /** After warm-up, `linear` decays the learning rate to 0 at the last step, as the Hugging Face Trainer does (default); `constant_with_warmup` keeps it. */
  scheduler?: ModularizeScheduler;
  /** Passes over the training blocks (default 2 when `maxSteps` is unset). */
  epochs?: number;
  /** Stop after this many steps. */
  maxSteps?: number;
  /** Blocks per step (default 4). */
  batchSize?: number;
  /** Tokens per block (default 512). */
  blockSize?: number;
  /** Use `mean(hardtanh(score, 0, 1))` as the retention loss instead of the binary rate (the original `--non_bin`; default false). */
  nonBinary?: boolean;
  /** Mask in the forward pass: `binary` (`score > 0`, default) or `hardtanh` (`clamp(score, 0, 1)`). */
  maskForward?: MaskForward;
  /** Seed of the score initialisation, the block order and dropout (default 1203, the original Trainer seed). */
  seed?: number;
  /** Largest global gradient norm of the scores (default 1.0, as the Hugging Face Trainer clips; 0 turns clipping off). */
  maxGradNorm?: number;
  /** Use at most this many training blocks. */
  maxTrainBlocks?: number;
  /** Evaluate on at most this many test blocks. */
  maxEvalBlocks?: number;
  /** Read at most this many documents per split. */
  maxDocuments?: number;
  /** Write the resumable checkpoint every this many steps, besides at every snapshot and at the end (default 500). */
  saveEvery?: number;
  /** Continue the interrupted run whose checkpoint is in `runDir`. */
  resume?: boolean;
  /** Replace the modules and logs of an earlier run in `outDir` and `runDir`. */
  overwrite?: boolean;
  /** Draw a progress bar on stderr (default true). */
  progress?: boolean;
}

/** The settings after defaults, with every number checked. */
export interface ResolvedModularizeOptions {
  domain: string;
  outDir: string;
  runDir: string;
  thresholds: number[];
  alpha: number;
  lr: number;
  weightDecay: number;
  warmupSteps?: number;
  warmupRatio: number;
  scheduler: ModularizeScheduler;
  epochs?: number;
  maxSteps?: number;
  batchSize: number;
  blockSize: number;
  retentionLoss: RetentionLoss;
  maskForward: MaskForward;
  seed: number;
  maxGradNorm: number;
  maxTrainBlocks?: number;
  maxEvalBlocks?: number;
  maxDocuments?: number;
  saveEvery: number;
  resume: boolean;
  overwrite: boolean;
  progress: boolean;
}

/**
 * Applies defaults and checks every setting.
 *
 * @throws InvalidInputError naming the first invalid setting
 */
export function resolveModularizeOptions(options: ModularizeOptions): ResolvedModularizeOptions {
  requireText('domain', options.domain, 'the corpus domain, for example "math"');
  requireText('outDir', options.outDir, 'the folder to write the modules to');
  if (options.runDir !== undefined) requireText('runDir', options.runDir, 'the folder to write logs to');

  const thresholds = [...new Set(options.thresholds ?? [0.75, 0.5, 0.25])].sort((a, b) => b - a);
  thresholds.forEach(checkThreshold);

  const scheduler = options.scheduler ?? 'linear';
  if (!MODULARIZE_SCHEDULERS.includes(scheduler)) {
    throw new InvalidInputError(`Invalid scheduler "${scheduler}": use ${MODULARIZE_SCHEDULERS.join(' or ')}`);
  }
  const maskForward = options.maskForward ?? 'binary';
  if (maskForward !== 'binary' && maskForward !== 'hardtanh') {
    throw new InvalidInputError(`Invalid maskForward "${maskForward}": use binary or hardtanh`);
  }

  const resolved: ResolvedModularizeOptions = {
    domain: options.domain,
    outDir: options.outDir,
    runDir: options.runDir ?? options.outDir,
    thresholds,
    alpha: nonNegative('alpha', options.alpha ?? 1),
    lr: positive('lr', options.lr ?? 0.005),
    weightDecay: nonNegative('weightDecay', options.weightDecay ?? 0),
    warmupSteps: options.warmupSteps === undefined ? undefined : count('warmupSteps', options.warmupSteps, 0),
    warmupRatio: fraction('warmupRatio', options.warmupRatio ?? 0),
    scheduler,
    epochs: optionalCount('epochs', options.epochs),
    maxSteps: optionalCount('maxSteps', options.maxSteps),
    batchSize: count('batchSize', options.batchSize ?? 4, 1),
    blockSize: count('blockSize', options.blockSize ?? 512, 2),
    retentionLoss: options.nonBinary ? 'hardtanh' : 'binary',
    maskForward,
    seed: seed(options.seed ?? 1203),
    maxGradNorm: nonNegative('maxGradNorm', options.maxGradNorm ?? 1.0),
    maxTrainBlocks: optionalCount('maxTrainBlocks', options.maxTrainBlocks),
    maxEvalBlocks: optionalCount('maxEvalBlocks', options.maxEvalBlocks),
    maxDocuments: optionalCount('maxDocuments', options.maxDocuments),
    saveEvery: count('saveEvery', options.saveEvery ?? 500, 1),
    resume: options.resume ?? false,
    overwrite: options.overwrite ?? false,
    progress: options.progress ?? true,
  };
  if (resolved.epochs === undefined && resolved.maxSteps === undefined) resolved.epochs = 2;
  if (resolved.resume && resolved.overwrite) {
    throw new InvalidInputError('resume and overwrite exclude each other: resume continues the run that overwrite would remove');
  }
  return resolved;
}
