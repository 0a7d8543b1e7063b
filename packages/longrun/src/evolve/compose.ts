/**
 * The composition step of one strategy in one stage. A grid search on the validation subsets
 * chooses the merge coefficients. The merge with the best ones is scored on every task's test
 * split, and each task's composed model (merged base plus the task's own head) is saved as the
 * starting point of the next stage.
 *
 * The fine-tuned task models stay in memory. At each grid point the merge runs in memory and
 * the merged base parameters are assigned into every task model, whose head is left out of the
 * merge by the architecture's task-head pattern, as the original ModularEvo code keeps each
 * task's classification head.
 */
import * as path from 'path';

import { getLogger, type StateDict } from '@modularevo/core-tensor';
import type { Module, TaskModel } from '@modularevo/masking';
import { unpackMask } from '@modularevo/masking';
import { gridSearch, mergeStateDicts, type MaskSource, type MergeConfig } from '@modularevo/merging';

import type { EvolveSettings } from '../config/settings';
import { STRATEGIES, type StrategyName } from '../config/strategies';
import { standardDeviation } from '../report/noise';
import type { RunLog } from './run-log';
import { withQuietLogs } from './quiet-logs';
import { copyStateDict } from './state-dicts';
import type { PreparedTask } from './task-data';

const log = getLogger('longrun');

/** Inputs of a composition step. */
export interface ComposeRequest {
  stage: number;
  strategy: StrategyName;
  tasks: readonly PreparedTask[];
  /** Base parameters of the model the stage started from. */
  current: StateDict;
  /** Fine-tuned task models in task order; this step disposes them. */
  models: TaskModel[];
  /** The module each task was fine-tuned on (ModularEvo strategies), in task order. */
  modules?: Module[];
  /** Regular expression of task-head parameter names, left out of the merge. */
  taskHeadPattern: string;
  settings: EvolveSettings;
  /** Seed of the DARE drop, the same at every grid point. */
  mergeSeed: number;
  /** Folder for `coefficient-grid.json`/`.csv` and `models/<task>/`. */
  outDir: string;
  runLog: RunLog;
}

/** Result of a composition step. */
export interface ComposeResult {
  coefficients: number[];
  validationMean: number;
  /** Test score of each task, in task order. */
  testScores: number[];
  /** Folder of each task's composed model, in task order. */
  modelDirs: string[];
}

/** Runs the grid search, the final merge, the test evaluation and saves the composed models. */
export async function compose(request: ComposeRequest): Promise<ComposeResult> {
  const { stage, strategy, tasks, models, settings, runLog } = request;
  try {
    const fineTuned = models.map((model) => copyStateDict(model.base.stateDict()));
    const validation = tasks.map((task, index) =>
      task.task.batches(models[index], task.data.splits.validation!, { batchSize: settings.evalBatchSize, maxLength: settings.finetune.maxLength, split: 'validation' }),
    );
    const config = mergeConfig(request);

    // every grid point: merge, assign into each task model, score on validation
    // the best point keeps its merged parameters, so the final merge is not repeated
    const search: { best?: { mean: number; merged: StateDict; coefficients: number[] } } = {};
    const score = async (coefficients: number[]): Promise<number[]> => {
      const merged = await withQuietLogs(['merging'], () => mergeStateDicts(request.current, fineTuned, withCoefficients(config, coefficients)));
      const scores = await evaluateAll(tasks, models, merged, validation);
      const mean = scores.reduce((sum, value) => sum + value, 0) / scores.length;
      if (!search.best || mean > search.best.mean) search.best = { mean, merged, coefficients };
      return scores;
    };
    const points = STRATEGIES[strategy].coefficients
      ? (await gridSearch({ grid: tasks.map(() => settings.merge.coefficients), score, taskNames: tasks.map((task) => task.settings.name), runDir: request.outDir })).points
      : [{ coefficients: [] as number[], scores: await score([]), mean: search.best!.mean }];
    points.forEach((point, index) =>
      runLog.write({ kind: 'grid', stage, strategy, point: index, coefficients: point.coefficients.join(','), scores: point.scores.join(','), mean: point.mean }),
    );
    const chosen = search.best!;
    runLog.write({
      kind: 'merge',
      stage,
      strategy,
      method: STRATEGIES[strategy].merge,
      coefficients: chosen.coefficients.join(','),
      validation_mean: chosen.mean,
      grid_spread: standardDeviation(points.map((point) => point.mean)),
      grid_points: points.length,
    });
    log.info(`stage ${stage} ${strategy}: coefficients [${chosen.coefficients.join(', ')}], validation mean ${chosen.mean.toFixed(4)}`);

    // the chosen composition on the test split
    const testScores: number[] = [];
    const modelDirs: string[] = [];
    for (const [index, task] of tasks.entries()) {
      const model = models[index];
      model.base.assign(chosen.merged);
      const examples = task.data.splits.test!;
      const batches = task.task.batches(model, examples, { batchSize: settings.evalBatchSize, maxLength: settings.finetune.maxLength, split: 'test' });
      const metrics = await model.evaluate(batches, { split: 'test', progress: false });
      const metric = task.task.info.primaryMetric;
      testScores.push(metrics[metric]);
      runLog.write({ kind: 'test', stage, strategy, task: task.settings.name, metric, score: metrics[metric], examples: examples.length, metrics: JSON.stringify(metrics) });

      const dir = path.join(request.outDir, 'models', task.settings.name);
      await model.save(dir, { overwrite: true });
      modelDirs.push(dir);
    }
    return { coefficients: chosen.coefficients, validationMean: chosen.mean, testScores, modelDirs };
  } finally {
    for (const model of models) model.dispose();
  }
}

/** Assigns the merged base parameters into every task model and scores each on its batches. */
async function evaluateAll(tasks: readonly PreparedTask[], models: TaskModel[], merged: StateDict, batches: unknown[][]): Promise<number[]> {
  const scores: number[] = [];
  for (const [index, task] of tasks.entries()) {
    models[index].base.assign(merged);
    const metrics = await models[index].evaluate(batches[index], { split: 'validation', progress: false });
    scores.push(metrics[task.task.info.primaryMetric]);
  }
  return scores;
}

/** Returns the strategy's merge settings, without coefficients. */
function mergeConfig(request: ComposeRequest): MergeConfig {
  const { strategy, settings } = request;
  const method = STRATEGIES[strategy].merge;
  const config: MergeConfig = {
    method,
    exclude: [request.taskHeadPattern],
    // Every model was fine-tuned from `current` by this run, so the check against merging
    // unrelated checkpoints cannot fail for a good reason. A diverged run shows in its scores.
    maxDistance: Infinity,
    warnDistance: Infinity,
  };
  if (method === 'ties') config.trim = settings.merge.trim;
  if (method === 'dare') Object.assign(config, { drop: settings.merge.drop, dropStrategy: 'random', rescale: true, apply: 'task_arithmetic', seed: request.mergeSeed });
  if (method === 'modularevo') config.masks = request.modules!.map(maskSource);
  return config;
}

function withCoefficients(config: MergeConfig, coefficients: number[]): MergeConfig {
  return coefficients.length === 0 ? config : { ...config, coefficients };
}

/** Returns one byte per entry for every masked parameter of `module`, as the modularevo merge takes masks. */
function maskSource(module: Module): MaskSource {
  const masks = new Map<string, Uint8Array>();
  for (const [name, mask] of module.masks) masks.set(name, unpackMask(mask));
  return masks;
}
