/**
 * `summary.json` of an evolution run: the numbers of the report, computed from the run's
 * metric records and its configuration only.
 */
import { NOISE_STANDARD_ERRORS, standardError, standardErrorOfDifference, standardErrorOfMean } from './noise';
import { parseNumberList, recordsOf, type RunRecord } from './records';

/** Identifies the file format of `summary.json`. */
export const SUMMARY_FORMAT = 'modularevo-evolve-summary';

/** What the summary needs from the run configuration. */
export interface SummaryPlan {
  arch: string;
  model: string;
  stages: number;
  seed: number;
  strategies: string[];
  tasks: { name: string; domain: string }[];
}

/** A learned module. */
export interface ModuleSummary {
  stage: number;
  domain: string;
  source: string;
  /** Fraction of the masked entries kept. */
  retention: number;
  /** Kept entries as a fraction of all base-model entries (the update budget of mask-guided fine-tuning). */
  baseFraction: number;
  threshold: number;
  reachedThreshold: boolean;
  optimizerSteps: number;
}

/** The gain of a ModularEvo strategy over a baseline in one stage, averaged over tasks. */
export interface GainSummary {
  stage: number;
  strategy: string;
  baseline: string;
  /** Mean over tasks of (strategy score - baseline score). */
  gain: number;
  /** Two standard errors of that difference, when every task's metric has one (see `noise.ts`). */
  noise: number | null;
  /** Whether |gain| is below `noise`; null without a noise estimate. */
  withinNoise: boolean | null;
}

/** A fine-tuning run: what it changed and how it scored before composition. */
export interface FinetuneSummary {
  stage: number;
  task: string;
  mode: string;
  strategies: string[];
  changedFraction: number;
  validationScore: number;
  testScore: number;
  optimizerSteps: number;
}

/** Contents of `summary.json`. Arrays indexed by stage hold null for stages not finished. */
export interface EvolveSummary {
  format: typeof SUMMARY_FORMAT;
  version: 1;
  arch: string;
  model: string;
  seed: number;
  stages: number;
  /** Stages whose every test score is recorded. */
  stagesFinished: number;
  /** Seconds spent in the finished run steps, summed over every process that worked on the run. */
  runSeconds: number | null;
  strategies: string[];
  tasks: { name: string; domain: string; metric: string | null; testExamples: number | null }[];
  modules: ModuleSummary[];
  /** Test score by strategy, task and stage. */
  scores: Record<string, Record<string, (number | null)[]>>;
  /** Mean test score over tasks, by strategy and stage. */
  meanScores: Record<string, (number | null)[]>;
  /** Binomial standard error of each test score (null for metrics that are not proportions). */
  standardErrors: Record<string, Record<string, (number | null)[]>>;
  /** Chosen coefficients by strategy and stage, in task order (empty for average merging). */
  coefficients: Record<string, (number[] | null)[]>;
  /** Best mean validation score by strategy and stage. */
  validationMeans: Record<string, (number | null)[]>;
  /** Standard deviation of the mean validation score over the grid points, by strategy and stage. */
  gridSpread: Record<string, (number | null)[]>;
  gains: GainSummary[];
  finetunes: FinetuneSummary[];
}

/**
 * Computes the summary of a run from its plan and its metric records; `runSeconds` is the time
 * spent in its finished steps, when known.
 */
export function buildSummary(plan: SummaryPlan, records: readonly RunRecord[], runSeconds: number | null = null): EvolveSummary {
  const tests = recordsOf(records, 'test');
  const merges = recordsOf(records, 'merge');
  const byStage = <T>(make: () => T): T[] => Array.from({ length: plan.stages }, make);

  // scores and their standard errors
  const scores: EvolveSummary['scores'] = {};
  const standardErrors: EvolveSummary['standardErrors'] = {};
  for (const strategy of plan.strategies) {
    scores[strategy] = Object.fromEntries(plan.tasks.map((task) => [task.name, byStage<number | null>(() => null)]));
    standardErrors[strategy] = Object.fromEntries(plan.tasks.map((task) => [task.name, byStage<number | null>(() => null)]));
  }
  for (const test of tests) {
    const row = scores[test.strategy]?.[test.task];
    if (!row || test.stage >= plan.stages) continue;
    row[test.stage] = test.score;
    standardErrors[test.strategy][test.task][test.stage] = standardError(test.metric, test.score, test.examples) ?? null;
  }
  const meanScores: EvolveSummary['meanScores'] = {};
  for (const strategy of plan.strategies) {
    meanScores[strategy] = byStage(() => null);
    for (let stage = 0; stage < plan.stages; stage++) meanScores[strategy][stage] = meanOver(plan.tasks.map((task) => scores[strategy][task.name][stage]));
  }

  // compositions
  const coefficients: EvolveSummary['coefficients'] = {};
  const validationMeans: EvolveSummary['validationMeans'] = {};
  const gridSpread: EvolveSummary['gridSpread'] = {};
  for (const strategy of plan.strategies) {
    coefficients[strategy] = byStage(() => null);
    validationMeans[strategy] = byStage(() => null);
    gridSpread[strategy] = byStage(() => null);
  }
  for (const merge of merges) {
    if (!coefficients[merge.strategy] || merge.stage >= plan.stages) continue;
    coefficients[merge.strategy][merge.stage] = parseNumberList(merge.coefficients);
    validationMeans[merge.strategy][merge.stage] = merge.validation_mean;
    gridSpread[merge.strategy][merge.stage] = merge.grid_spread;
  }

  const stagesFinished = countFinishedStages(plan, scores);
  return {
    format: SUMMARY_FORMAT,
    version: 1,
    arch: plan.arch,
    model: plan.model,
    seed: plan.seed,
    stages: plan.stages,
    stagesFinished,
    runSeconds,
    strategies: [...plan.strategies],
    tasks: plan.tasks.map((task) => {
      const test = tests.find((record) => record.task === task.name);
      return { name: task.name, domain: task.domain, metric: test?.metric ?? null, testExamples: test?.examples ?? null };
    }),
    modules: recordsOf(records, 'module').map((module) => ({
      stage: module.stage,
      domain: module.domain,
      source: module.source,
      retention: module.retention,
      baseFraction: module.base_parameters > 0 ? module.base_retained / module.base_parameters : 0,
      threshold: module.threshold,
      reachedThreshold: module.reached_threshold,
      optimizerSteps: module.optimizer_steps,
    })),
    scores,
    meanScores,
    standardErrors,
    coefficients,
    validationMeans,
    gridSpread,
    gains: computeGains(plan, scores, standardErrors),
    finetunes: recordsOf(records, 'finetune').map((finetune) => ({
      stage: finetune.stage,
      task: finetune.task,
      mode: finetune.mode,
      strategies: finetune.strategies.split(','),
      changedFraction: finetune.changed_fraction,
      validationScore: finetune.validation_score,
      testScore: finetune.test_score,
      optimizerSteps: finetune.optimizer_steps,
    })),
  };
}

/** Gains of every ModularEvo strategy over every other strategy, per stage with all scores present. */
function computeGains(plan: SummaryPlan, scores: EvolveSummary['scores'], errors: EvolveSummary['standardErrors']): GainSummary[] {
  const gains: GainSummary[] = [];
  const modularEvo = plan.strategies.filter((strategy) => strategy.startsWith('modularevo'));
  const baselines = plan.strategies.filter((strategy) => !strategy.startsWith('modularevo'));

  for (const strategy of modularEvo) {
    for (const baseline of baselines) {
      for (let stage = 0; stage < plan.stages; stage++) {
        const differences: number[] = [];
        const differenceErrors: (number | null)[] = [];
        for (const task of plan.tasks) {
          const a = scores[strategy][task.name][stage];
          const b = scores[baseline][task.name][stage];
          if (a === null || b === null) break;
          differences.push(a - b);
          const errorA = errors[strategy][task.name][stage];
          const errorB = errors[baseline][task.name][stage];
          differenceErrors.push(errorA === null || errorB === null ? null : standardErrorOfDifference(errorA, errorB));
        }
        if (differences.length < plan.tasks.length) continue;

        const gain = differences.reduce((sum, value) => sum + value, 0) / differences.length;
        const known = differenceErrors.every((error): error is number => error !== null);
        const noise = known ? NOISE_STANDARD_ERRORS * standardErrorOfMean(differenceErrors) : null;
        gains.push({ stage, strategy, baseline, gain, noise, withinNoise: noise === null ? null : Math.abs(gain) < noise });
      }
    }
  }
  return gains;
}

function countFinishedStages(plan: SummaryPlan, scores: EvolveSummary['scores']): number {
  let finished = 0;
  for (let stage = 0; stage < plan.stages; stage++) {
    const complete = plan.strategies.every((strategy) => plan.tasks.every((task) => scores[strategy][task.name][stage] !== null));
    if (!complete) break;
    finished = stage + 1;
  }
  return finished;
}

function meanOver(values: (number | null)[]): number | null {
  if (values.length === 0 || values.some((value) => value === null)) return null;
  return (values as number[]).reduce((sum, value) => sum + value, 0) / values.length;
}
