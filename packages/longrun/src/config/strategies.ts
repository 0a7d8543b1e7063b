/**
 * Evolution strategies: how each task is fine-tuned in a stage and how the fine-tuned models are
 * composed into the next stage's model. The strategies are rows of one table, so the CLI, the
 * configuration file, the metrics and the report use the same names.
 */
import { InvalidInputError } from '@modularevo/core-tensor';
import type { MergeMethod } from '@modularevo/merging';

/** Strategy names as `--strategies` and the configuration file take them. */
export const STRATEGY_NAMES = ['modularevo', 'modularevo_relearn', 'task_arithmetic', 'ties', 'dare', 'average'] as const;

/** A strategy name. */
export type StrategyName = (typeof STRATEGY_NAMES)[number];

/** Fine-tuning of a strategy: only the entries of the task's domain module, or every base parameter. */
export type FinetuneMode = 'module' | 'full';

/** What a strategy does in every stage. */
export interface Strategy {
  name: StrategyName;
  finetune: FinetuneMode;
  /** Merge method of `@modularevo/merging` that composes the fine-tuned models. */
  merge: MergeMethod;
  /**
   * Where the domain modules come from: learned once on the base model (`base`), or relearned on
   * the current model at the start of every stage after the first (`current`).
   */
  modules?: 'base' | 'current';
  /** Whether the merge takes one coefficient per task, chosen by the grid search. */
  coefficients: boolean;
  description: string;
}

/** Every strategy by name. */
export const STRATEGIES: Readonly<Record<StrategyName, Strategy>> = {
  modularevo: {
    name: 'modularevo',
    finetune: 'module',
    merge: 'modularevo',
    modules: 'base',
    coefficients: true,
    description: 'mask-guided fine-tuning on each task\'s domain module (learned once on the base model), composed by task arithmetic over the module task vectors',
  },
  modularevo_relearn: {
    name: 'modularevo_relearn',
    finetune: 'module',
    merge: 'modularevo',
    modules: 'current',
    coefficients: true,
    description: 'as modularevo, but the domain modules are relearned on the current model at the start of every stage',
  },
  task_arithmetic: { name: 'task_arithmetic', finetune: 'full', merge: 'task_arithmetic', coefficients: true, description: 'full fine-tuning, composed by task arithmetic' },
  ties: { name: 'ties', finetune: 'full', merge: 'ties', coefficients: true, description: 'full fine-tuning, composed by TIES merging' },
  dare: { name: 'dare', finetune: 'full', merge: 'dare', coefficients: true, description: 'full fine-tuning, composed by DARE (random drop, rescaled) with task arithmetic' },
  average: { name: 'average', finetune: 'full', merge: 'average', coefficients: false, description: 'full fine-tuning, composed by averaging the fine-tuned weights' },
};

/** Strategies run when none are named: ModularEvo and the four baselines. */
export const DEFAULT_STRATEGIES: readonly StrategyName[] = ['modularevo', 'task_arithmetic', 'ties', 'dare', 'average'];

/** Returns the strategies named in `names`, in table order, or throws an InvalidInputError. */
export function parseStrategies(names: readonly string[]): StrategyName[] {
  if (names.length === 0) throw new InvalidInputError(`No strategies given: name at least one of ${STRATEGY_NAMES.join(', ')}`);
  for (const name of names) {
    if (!(STRATEGY_NAMES as readonly string[]).includes(name)) {
      throw new InvalidInputError(`Unknown strategy "${name}": use one of ${STRATEGY_NAMES.join(', ')}`);
    }
  }
  return STRATEGY_NAMES.filter((name) => names.includes(name));
}

/** Returns whether `name` is a ModularEvo strategy (mask-guided fine-tuning). */
export function isModularEvo(name: StrategyName): boolean {
  return STRATEGIES[name].finetune === 'module';
}
