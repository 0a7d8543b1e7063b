import type { CheckpointReader } from '@modularevo/core-tensor';

import type { ResolvedMergeConfig } from '../config';
import type { Merger } from '../engine/merger';
import type { MergePlan } from '../engine/plan';
import { AverageMerger } from './average';
import { DareMerger } from './dare';
import { FisherMerger } from './fisher';
import { ModularEvoMerger } from './modularevo';
import { RegMeanMerger } from './regmean';
import { TaskArithmeticMerger } from './task-arithmetic';
import { TiesMerger } from './ties';

/** Inputs a merger may read when it is created. */
export interface MergerContext {
  base: CheckpointReader;
  models: readonly CheckpointReader[];
  plan: MergePlan;
}

/**
 * Builds the merger of `config.method`. DARE is a sparsification step in front of another
 * merger, configured rather than copied, as MergeKit composes its methods.
 */
export async function createMerger(config: ResolvedMergeConfig, context: MergerContext): Promise<Merger> {
  switch (config.method) {
    case 'average':
      return new AverageMerger();
    case 'task_arithmetic':
      return new TaskArithmeticMerger(config.coefficients, config.scalingCoefficient);
    case 'ties':
      return new TiesMerger(config, context.plan);
    case 'dare':
      return new DareMerger(config, dareTarget(config, context));
    case 'modularevo':
      return new ModularEvoMerger(config);
    case 'fisher':
      return FisherMerger.create(config, context);
    case 'regmean':
      return RegMeanMerger.create(config, context);
  }
}

function dareTarget(config: ResolvedMergeConfig, context: MergerContext): Merger {
  switch (config.apply) {
    case 'task_arithmetic':
      return new TaskArithmeticMerger(config.coefficients, config.scalingCoefficient);
    case 'ties':
      // DARE hands TIES the task vectors it dropped and rescaled
      return new TiesMerger(config, context.plan, true);
    case 'average':
      return new AverageMerger();
  }
}
