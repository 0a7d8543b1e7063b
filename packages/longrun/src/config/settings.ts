/**
 * Settings of an evolution run, resolved: every default filled in, every path absolute. The run
 * folder keeps them as `config.json` (in the configuration file's format, see `config-file.ts`),
 * so a run can be repeated with `--config <run>/config.json`.
 */
import type { SplitFiles } from '@modularevo/datasets';

import type { StrategyName } from './strategies';

/** One downstream task of the run. */
export interface TaskSettings {
  /** Task name as the architecture runs it (`mathqa`, `langid`, `math-topic`, ...). */
  name: string;
  /** Domain whose module the task is fine-tuned on under ModularEvo. */
  domain: string;
  /** The task's data: a file or folder, or the file of each split. */
  source: string | SplitFiles;
}

/** One domain corpus of the run. */
export interface DomainSettings {
  name: string;
  /** Pile-style corpus: a JSON-lines file (or .zst, .parquet, ...), or a folder with train and test files. */
  corpus: string;
}

/** Settings of the modularizer, the same for every domain. */
export interface ModularizeSettings {
  /** Weight retention rate of the module used for fine-tuning (a snapshot threshold, 0 to 1). */
  threshold: number;
  /** Maximum optimizer steps; learning stops earlier once the retention rate reaches `threshold`. */
  maxSteps: number;
  /** Learning rate of the mask scores. */
  lr: number;
  /** Weight of the retention rate in the loss. */
  alpha: number;
  /** Blocks per step. */
  batchSize: number;
  /** Tokens per block. */
  blockSize: number;
  /** Steps of linear learning-rate warm-up. */
  warmupSteps: number;
  /** Cap on the training blocks used from each corpus. */
  maxBlocks?: number;
  /** Cap on the documents read from each corpus split. */
  maxDocuments?: number;
  /** Cap on the test blocks the module and the unmasked model are evaluated on. */
  evalBlocks?: number;
}

/** Settings of every fine-tuning run (both ModularEvo and the full fine-tuning baselines). */
export interface FinetuneSettings {
  /** Passes over the stage's shard; `maxSteps` may end training sooner. */
  epochs: number;
  maxSteps?: number;
  batchSize: number;
  lr: number;
  weightDecay: number;
  warmupSteps: number;
  /** Maximum tokens per example; longer texts are truncated. */
  maxLength: number;
  /** Validate every this many steps (default: at the end of each epoch). */
  evalEvery?: number;
  /** Stop after this many validations without improvement. */
  patience?: number;
}

/** Caps on the examples read per split (a seeded sample), to bound a run. */
export interface DataSettings {
  trainExamples?: number;
  /** Validation examples: they choose the best checkpoint and the merge coefficients. */
  validationExamples?: number;
  testExamples?: number;
}

/** Settings of the composition step. */
export interface MergeSettings {
  /** Candidate coefficients of each task model; the grid search tries every combination. */
  coefficients: number[];
  /** TIES trim rate (fraction of each task vector dropped). */
  trim: number;
  /** DARE drop rate. */
  drop: number;
}

/** Everything an evolution run needs, resolved. */
export interface EvolveSettings {
  /** Architecture package name (`gptneo`, `codebert`, `codet5`). */
  arch: string;
  /** Base model folder in Hugging Face layout. */
  model: string;
  /** Run folder. */
  out: string;
  /** Number of stages (at least 1). */
  stages: number;
  /** Root seed of every random choice: shards, heads, data order, mask initialisation, DARE drops. */
  seed: number;
  strategies: StrategyName[];
  tasks: TaskSettings[];
  domains: DomainSettings[];
  modularize: ModularizeSettings;
  finetune: FinetuneSettings;
  data: DataSettings;
  merge: MergeSettings;
  /** Examples per batch when evaluating. */
  evalBatchSize: number;
}
