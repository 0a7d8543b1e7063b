/** Loads what a composition step needs and runs it (see `compose.ts`). */
import { loadModule, type Module, type TaskModel } from '@modularevo/masking';
import type { StateDict } from '@modularevo/core-tensor';

import { STRATEGIES } from '../config/strategies';
import { compose } from './compose';
import { composedModelFolder, fineTunedModelFolder, moduleFolder, stepDir, type RunContext } from './context';
import type { ComposeStep, FinetuneStep, PlanStep } from './plan';
import { planRun } from './plan';

/** Composes one strategy's fine-tuned models of one stage and scores the result. */
export async function runComposeStep(context: RunContext, step: ComposeStep): Promise<void> {
  const { architecture, settings, tasks } = context;
  const current = await currentBase(context, step);

  // the fine-tuned task models, and for ModularEvo the module each was fine-tuned on
  const models: TaskModel[] = [];
  try {
    for (const [index, task] of tasks.entries()) models.push(await task.task.loadModel(fineTunedModelFolder(settings, step.finetunes[index])));
  } catch (error) {
    for (const model of models) model.dispose();
    throw error;
  }
  let modules: Module[] | undefined;
  if (STRATEGIES[step.strategy].merge === 'modularevo') {
    const finetunes = finetuneSteps(context, step);
    modules = finetunes.map((finetune) => loadModule(moduleFolder(settings, finetune.module!.stage, finetune.module!.source, finetune.module!.domain), { scores: false }));
  }

  await compose({
    stage: step.stage,
    strategy: step.strategy,
    tasks,
    current,
    models,
    modules,
    taskHeadPattern: architecture.taskHeadPattern,
    settings,
    mergeSeed: context.rng.fork(`merge/stage-${step.stage}/${step.strategy}`).seed,
    outDir: stepDir(settings, step.id),
    runLog: context.runLog,
  });
}

/** Returns the base parameters the stage started from: the base model, or the strategy's composed model of the previous stage. */
async function currentBase(context: RunContext, step: ComposeStep): Promise<StateDict> {
  const { architecture, settings, tasks } = context;
  if (step.stage === 0) {
    const model = await architecture.load(settings.model);
    try {
      return model.stateDict();
    } finally {
      model.dispose();
    }
  }

  const first = tasks[0];
  const model = await first.task.loadModel(composedModelFolder(settings, step.stage - 1, step.strategy, first.settings.name));
  try {
    return model.base.stateDict();
  } finally {
    model.dispose();
  }
}

/** Returns the fine-tuning steps a composition step composes, in task order. */
function finetuneSteps(context: RunContext, step: ComposeStep): FinetuneStep[] {
  const byId = new Map<string, PlanStep>(planRun(context.settings).map((candidate) => [candidate.id, candidate]));
  return step.finetunes.map((id) => byId.get(id) as FinetuneStep);
}
