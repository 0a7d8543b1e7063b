/**
 * Fine-tuning steps: one task, one starting model (the base model with a fresh head at stage 0,
 * else a strategy's composed model with the task's own head), fully or on the task's domain
 * module. The fine-tuned model is saved for the composition steps that use it.
 */
import * as path from 'path';

import { loadModule, type TaskModel } from '@modularevo/masking';

import { composedModelFolder, fineTunedModelFolder, moduleFolder, stepDir, type RunContext } from './context';
import { fineTune } from './fine-tune';
import type { FinetuneStep } from './plan';

/** Runs one fine-tuning step and logs its result. */
export async function runFinetuneStep(context: RunContext, step: FinetuneStep): Promise<void> {
  const { settings, runLog } = context;
  const prepared = context.tasks.find((task) => task.settings.name === step.task)!;
  const started = Date.now();

  // every strategy sees the same data order and dropout in a stage, whatever model it starts from
  const rng = context.rng.fork(`finetune/stage-${step.stage}/${step.task}`);
  const model = await startingModel(context, step);
  try {
    const module = step.module ? loadModule(moduleFolder(settings, step.module.stage, step.module.source, step.module.domain), { scores: false }) : undefined;
    const result = await fineTune({
      architecture: context.architecture,
      task: prepared.task,
      model,
      train: prepared.shards[step.stage],
      validation: prepared.data.splits.validation!,
      module,
      settings: settings.finetune,
      rng,
      runDir: path.join(stepDir(settings, step.id), 'run'),
      progress: context.progress,
      label: `stage ${step.stage} ${step.mode} fine-tuning of ${step.task}${step.source === 'base' ? '' : ` (${step.source})`}`,
    });

    // the fine-tuned model before composition, on the test split
    const test = prepared.data.splits.test!;
    const batches = prepared.task.batches(model, test, { batchSize: settings.evalBatchSize, maxLength: settings.finetune.maxLength, split: 'test' });
    const metric = prepared.task.info.primaryMetric;
    const testMetrics = await model.evaluate(batches, { split: 'test', progress: false });
    await model.save(fineTunedModelFolder(settings, step.id), { overwrite: true });

    runLog.write({
      kind: 'finetune',
      stage: step.stage,
      task: step.task,
      mode: step.mode,
      strategies: step.strategies.join(','),
      ...(step.module ? { domain: step.module.domain } : {}),
      optimizer_steps: result.training.steps,
      changed_fraction: result.changedFraction,
      validation_score: result.validation[metric],
      test_score: testMetrics[metric],
      seconds: (Date.now() - started) / 1000,
    });
  } finally {
    model.dispose();
  }
}

/** Loads the model a fine-tuning step starts from. */
async function startingModel(context: RunContext, step: FinetuneStep): Promise<TaskModel> {
  const { architecture, settings } = context;
  const prepared = context.tasks.find((task) => task.settings.name === step.task)!;
  if (step.source !== 'base') return prepared.task.loadModel(composedModelFolder(settings, step.stage - 1, step.source, step.task));

  // the head's initial values depend only on the task, so both fine-tuning modes start alike
  const base = await architecture.load(settings.model);
  try {
    return prepared.task.createModel(base, prepared.data, { seed: context.rng.fork(`head/${step.task}`).seed });
  } catch (error) {
    base.dispose();
    throw error;
  }
}
