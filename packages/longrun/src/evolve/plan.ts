/**
 * The plan of an evolution run: its steps in execution order. A step is the unit of resuming,
 * so each one writes all its outputs before the run state records it as finished, and a step
 * id names the same work in every process that runs the plan.
 */
import type { EvolveSettings } from '../config/settings';
import { STRATEGIES, isModularEvo, type FinetuneMode, type StrategyName } from '../config/strategies';

/** Learns one domain module, on the base model (`source` `base`) or on a strategy's current model. */
export interface ModuleStep {
  kind: 'module';
  id: string;
  stage: number;
  domain: string;
  source: 'base' | StrategyName;
}

/** Measures the overlap between the domain modules learned on one model. */
export interface OverlapStep {
  kind: 'overlap';
  id: string;
  stage: number;
  source: 'base' | StrategyName;
}

/**
 * Fine-tunes one task from one starting model. At stage 0 every strategy starts from the base
 * model, so strategies with the same fine-tuning mode share one step.
 */
export interface FinetuneStep {
  kind: 'finetune';
  id: string;
  stage: number;
  task: string;
  mode: FinetuneMode;
  /** `base` at stage 0, else the strategy whose composed model the task starts from. */
  source: 'base' | StrategyName;
  /** Strategies that compose the result. */
  strategies: StrategyName[];
  /** For mask-guided fine-tuning: the domain and the model its module was learned on. */
  module?: { domain: string; source: 'base' | StrategyName; stage: number };
}

/** Chooses a strategy's coefficients, composes its fine-tuned models and scores every task. */
export interface ComposeStep {
  kind: 'compose';
  id: string;
  stage: number;
  strategy: StrategyName;
  /** The fine-tuning step of each task, in task order. */
  finetunes: string[];
}

/** A step of the plan. */
export type PlanStep = ModuleStep | OverlapStep | FinetuneStep | ComposeStep;

/** Returns every step of the run in execution order. */
export function planRun(settings: EvolveSettings): PlanStep[] {
  const steps: PlanStep[] = [];
  const { strategies, tasks, domains } = settings;
  const domainOf = new Map(tasks.map((task) => [task.name, task.domain]));

  // domain modules learned on the base model, shared by the ModularEvo strategies
  if (strategies.some(isModularEvo)) {
    for (const domain of domains) steps.push({ kind: 'module', id: `stage-0/module/base/${domain.name}`, stage: 0, domain: domain.name, source: 'base' });
    if (domains.length > 1) steps.push({ kind: 'overlap', id: 'stage-0/overlap/base', stage: 0, source: 'base' });
  }

  for (let stage = 0; stage < settings.stages; stage++) {
    // modules relearned on the current model
    if (stage > 0) {
      for (const strategy of strategies.filter((name) => STRATEGIES[name].modules === 'current')) {
        for (const domain of domains) steps.push({ kind: 'module', id: `stage-${stage}/module/${strategy}/${domain.name}`, stage, domain: domain.name, source: strategy });
        if (domains.length > 1) steps.push({ kind: 'overlap', id: `stage-${stage}/overlap/${strategy}`, stage, source: strategy });
      }
    }

    // fine-tuning: one step per starting model, mode and task
    const finetuneOf = new Map<string, FinetuneStep>();
    for (const strategy of strategies) {
      const mode = STRATEGIES[strategy].finetune;
      const source = stage === 0 ? 'base' : strategy;
      for (const task of tasks) {
        const id = `stage-${stage}/finetune/${source}/${mode}/${task.name}`;
        let step = finetuneOf.get(id);
        if (!step) {
          step = { kind: 'finetune', id, stage, task: task.name, mode, source, strategies: [] };
          if (mode === 'module') step.module = moduleOf(strategy, stage, domainOf.get(task.name)!);
          finetuneOf.set(id, step);
          steps.push(step);
        }
        step.strategies.push(strategy);
      }
    }

    // composition, per strategy
    for (const strategy of strategies) {
      const mode = STRATEGIES[strategy].finetune;
      const source = stage === 0 ? 'base' : strategy;
      const finetunes = tasks.map((task) => `stage-${stage}/finetune/${source}/${mode}/${task.name}`);
      steps.push({ kind: 'compose', id: `stage-${stage}/compose/${strategy}`, stage, strategy, finetunes });
    }
  }
  return steps;
}

/** Returns the module a ModularEvo strategy fine-tunes a task on in `stage`. */
function moduleOf(strategy: StrategyName, stage: number, domain: string): FinetuneStep['module'] {
  if (STRATEGIES[strategy].modules === 'current' && stage > 0) return { domain, source: strategy, stage };
  return { domain, source: 'base', stage: 0 };
}
