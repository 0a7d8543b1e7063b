/**
 * Module steps: learn a domain module with the modularizer of `@modularevo/masking`, then log
 * its retention curve, its retained fraction per layer, and the overlap between the domain
 * modules learned on one model.
 */
import * as fs from 'fs';
import * as path from 'path';

import { METRICS_FILE, numel, readMetrics } from '@modularevo/core-tensor';
import { loadModule, modularize, moduleOverlap, moduleStatistics, type Module, type PretrainedModel } from '@modularevo/masking';

import { composedModelFolder, moduleFolder, stepDir, type RunContext } from './context';
import type { ModuleStep, OverlapStep } from './plan';

/** Learns the module of one domain and logs what it kept. */
export async function runModuleStep(context: RunContext, step: ModuleStep): Promise<void> {
  const { architecture, settings, runLog } = context;
  const dir = stepDir(settings, step.id);
  const domain = settings.domains.find((entry) => entry.name === step.domain)!;
  const { threshold } = settings.modularize;

  const { model, release } = await currentModel(context, step);
  try {
    const summary = await modularize({
      architecture,
      model,
      domain: domain.name,
      corpus: domain.corpus,
      outDir: path.join(dir, 'modules'),
      runDir: path.join(dir, 'run'),
      thresholds: [threshold],
      alpha: settings.modularize.alpha,
      lr: settings.modularize.lr,
      warmupSteps: settings.modularize.warmupSteps,
      // a constant rate after warm-up: the run is cut by steps, not by a decay to zero
      scheduler: 'constant_with_warmup',
      maxSteps: settings.modularize.maxSteps,
      batchSize: settings.modularize.batchSize,
      blockSize: settings.modularize.blockSize,
      maxTrainBlocks: settings.modularize.maxBlocks,
      maxDocuments: settings.modularize.maxDocuments,
      maxEvalBlocks: settings.modularize.evalBlocks,
      seed: context.rng.fork(`modularize/${step.source}/stage-${step.stage}/${domain.name}`).seed,
      overwrite: true,
      progress: context.progress,
    });

    // the retention curve, from the modularizer's own metrics
    for (const record of readMetrics(path.join(dir, 'run', METRICS_FILE))) {
      if (typeof record.wrr !== 'number') continue;
      runLog.write({
        kind: 'wrr',
        stage: step.stage,
        domain: domain.name,
        optimizer_step: record.step,
        wrr: record.wrr,
        ...(typeof record.loss === 'number' ? { loss: record.loss } : {}),
        ...(typeof record.lm_loss === 'number' ? { lm_loss: record.lm_loss } : {}),
      });
    }

    // the module fine-tuning will use, and what it keeps
    const module = loadModule(moduleFolder(settings, step.stage, step.source, domain.name), { scores: false });
    const state = model.stateDict();
    const baseParameters = [...state.values()].reduce((sum, tensor) => sum + numel(tensor.shape), 0);
    const statistics = moduleStatistics(module);
    const baseRetained = statistics.perParameter.filter((row) => state.has(row.name)).reduce((sum, row) => sum + row.retained, 0);
    runLog.write({
      kind: 'module',
      stage: step.stage,
      domain: domain.name,
      source: step.source,
      retention: module.weightRetentionRate,
      retained: statistics.overall.retained,
      total: statistics.overall.total,
      base_parameters: baseParameters,
      base_retained: baseRetained,
      threshold,
      optimizer_steps: summary.steps,
      reached_threshold: module.threshold === threshold,
    });
    for (const layer of statistics.perLayer) {
      runLog.write({ kind: 'layer_retention', stage: step.stage, domain: domain.name, source: step.source, layer: layer.layer, layer_kind: layer.kind, fraction: layer.fraction });
    }
  } finally {
    release();
  }
}

/** Logs the Jaccard overlap of every pair of domain modules learned on one model. */
export function runOverlapStep(context: RunContext, step: OverlapStep): void {
  const { settings, runLog } = context;
  const modules: Module[] = settings.domains.map((domain) => loadModule(moduleFolder(settings, step.stage, step.source, domain.name), { scores: false }));
  for (let a = 0; a < modules.length; a++) {
    for (let b = a + 1; b < modules.length; b++) {
      const overlap = moduleOverlap(modules[a], modules[b]);
      runLog.write({ kind: 'overlap', stage: step.stage, source: step.source, domain_a: modules[a].domain, domain_b: modules[b].domain, jaccard: overlap.overall.jaccard });
    }
  }
}

/**
 * Loads the model a module is learned on: the base model, or the strategy's composed model from
 * the previous stage (its base, without the task head).
 */
async function currentModel(context: RunContext, step: ModuleStep): Promise<{ model: PretrainedModel; release: () => void }> {
  const { architecture, settings } = context;
  if (step.source === 'base') {
    const model = await architecture.load(settings.model);
    return { model, release: () => model.dispose() };
  }

  const first = context.tasks[0];
  const dir = composedModelFolder(settings, step.stage - 1, step.source, first.settings.name);
  if (!fs.existsSync(dir)) throw new Error(`The composed model ${dir} of the previous stage is missing, although its step finished`);
  const taskModel = await first.task.loadModel(dir);
  return { model: taskModel.base, release: () => taskModel.dispose() };
}
