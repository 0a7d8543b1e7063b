/**
 * Default settings. `PAPER_DEFAULTS` apply whenever the user names tasks or domains. They follow
 * ModularEvo's GPT-Neo scripts: three stages, coefficients 0.4 to 1.2 in steps of 0.1, TIES trim
 * and DARE drop 0.75, fine-tuning at lr 5e-5 with batch 8. `BUILTIN_DEFAULTS` apply to the
 * offline default run (`modularevo evolve` with no task or domain). They are sized so that its
 * two domains, two tasks and three stages on the built-in tiny GPT-Neo finish well within 15
 * minutes on a 2-core CPU.
 */
import { coefficientRange } from '@modularevo/merging';

import type { DataSettings, FinetuneSettings, MergeSettings, ModularizeSettings } from './settings';
import { DEFAULT_STRATEGIES, type StrategyName } from './strategies';

/** Settings that have a default in each profile. */
export interface DefaultSettings {
  arch: string;
  stages: number;
  seed: number;
  strategies: readonly StrategyName[];
  modularize: ModularizeSettings;
  finetune: FinetuneSettings;
  data: DataSettings;
  merge: MergeSettings;
  evalBatchSize: number;
}

/** Defaults for runs on user data, taken from ModularEvo's GPT-Neo scripts where they state a value. */
export const PAPER_DEFAULTS: DefaultSettings = {
  arch: 'gptneo',
  stages: 3,
  seed: 42,
  strategies: DEFAULT_STRATEGIES,
  modularize: { threshold: 0.25, maxSteps: 2000, lr: 0.005, alpha: 1, batchSize: 8, blockSize: 512, warmupSteps: 0 },
  finetune: { epochs: 2, batchSize: 8, lr: 5e-5, weightDecay: 0, warmupSteps: 100, maxLength: 512, patience: 3 },
  data: {},
  merge: { coefficients: coefficientRange(0.4, 1.2, 0.1), trim: 0.75, drop: 0.75 },
  evalBatchSize: 16,
};

/** Tasks of the built-in default run, each with its built-in domain. */
export const BUILTIN_RUN_TASKS = ['math-topic', 'langid'] as const;

/** Defaults of the built-in run; see the file comment for what they are sized for. */
export const BUILTIN_DEFAULTS: DefaultSettings = {
  ...PAPER_DEFAULTS,
  // With alpha 1 the retention rate of the built-in model levels off near 0.3 (lr 0.01 and 0.03
  // measured), so alpha 20 brings it to 0.25 in about 90 steps; 110 steps leave a margin.
  modularize: { threshold: 0.25, maxSteps: 110, lr: 0.01, alpha: 20, batchSize: 8, blockSize: 64, warmupSteps: 0, maxDocuments: 120, evalBlocks: 32 },
  finetune: { epochs: 1, batchSize: 8, lr: 1e-3, weightDecay: 0, warmupSteps: 10, maxLength: 128, patience: 3 },
  data: { validationExamples: 64 },
  merge: { coefficients: [0.4, 0.7, 1.0], trim: 0.75, drop: 0.75 },
  evalBatchSize: 32,
};
