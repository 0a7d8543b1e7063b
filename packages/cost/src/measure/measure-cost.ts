/**
 * `measureCost`: what a module saves at inference. The task model runs the same batches through
 * two paths in one process. The dense path is the model as loaded, on the backend's dense
 * kernels. The sparse path multiplies the weights by the module's masks and runs the sparse
 * kernels. Repeats alternate between the paths, so other load on the machine slows both alike.
 */
import * as tf from '@tensorflow/tfjs-core';
import { getLogger, initBackend, InvalidInputError, ProgressBar, writeJsonAtomic, type BackendInfo, type LinearFn } from '@modularevo/core-tensor';
import { loadModule, type Architecture, type TaskModel } from '@modularevo/masking';

import { modelSparsity, moduleSparsity, type SparsityReport, type UpdateReport } from '../accounting';
import { buildSparsePlan, maskedDenseLinear, sparseLinear, type DisposableLinearFn, type SparseKernelStatus, type SparsePlan } from '../sparse';
import { predictionsOf } from './predictions';
import { checkModuleBase, loadTask, type BaseCheck } from './task-model';
import { median, summarizeTiming, timeMs, type PathTiming } from './timing';

const log = getLogger('cost');

/** Options of {@link measureCost}; the CLI flags of `modularevo cost`. */
export interface CostOptions {
  architecture: Architecture;
  /** Task name, as the architecture lists it in `tasks`. */
  task: string;
  /** A fine-tuned task model folder, or a base model folder (then a fresh head is added). */
  model: string;
  /** Module folder whose masks make the sparse model. */
  module: string;
  /** The task's data: a file or folder, as the task reader takes it. */
  data: string;
  /** Base model folder of a fine-tuned `model`, to check the module's base weights hash. */
  base?: string;
  batchSize?: number;
  /** Maximum tokens per sequence. */
  seqLen?: number;
  /** Timed runs of each path. */
  repeats?: number;
  /** Untimed runs of each path before timing. */
  warmup?: number;
  /** A masked layer that keeps more than this fraction of its weights runs dense (default `DEFAULT_DENSE_ABOVE`). */
  denseAbove?: number;
  /** Examples measured (the first of the chosen split). */
  maxExamples?: number;
  /** JSON file for the report, written atomically. */
  out?: string;
  /** Shows progress bars (default true). */
  progress?: boolean;
}

/** Everything `modularevo cost` prints and writes. */
export interface CostReport {
  architecture: string;
  task: string;
  split: string;
  model: { dir: string; kind: string };
  module: { dir: string; domain: string; weightRetentionRate: number };
  baseCheck: BaseCheck['method'];
  inputs: { batches: number; examples: number; batchSize: number; seqLen: number; meanTokensPerBatch: number };
  timing: { warmup: number; repeats: number; dense: PathTiming; sparse: PathTiming; speedup: number };
  metrics: { primary: string; dense: Record<string, number>; sparse: Record<string, number> };
  /** Predictions of the sparse path compared with both dense models; `method` is null when the task model gives none. */
  predictions: {
    method: string | null;
    compared: number;
    /** Predictions that differ from the dense model with the masks applied (the same function): 0 unless a kernel is wrong. */
    differingFromDenseMasked: number;
    /** Predictions that differ from the dense model as loaded, which also uses the weights the module drops. */
    differingFromDense: number;
  };
  /** Largest difference between the sparse kernels and the dense masked layers on the first batch. */
  kernelCheck: { maxAbsDiff: number; linearCalls: number };
  /** Weight entries the sparse layers keep, over the masked linear layers. */
  retainedFraction: number;
  /**
   * Weight entries kept over the masked layers the task's forward pass runs, which leaves out
   * layers such as GPT-Neo's `lm_head` that a module masks but a classifier never calls.
   */
  retainedFractionRun: number;
  /** Paths of the masked layers: the density threshold and the number of layers run sparse and dense. */
  layerPaths: { denseAbove: number; sparse: number; dense: number };
  sparsity: { module: SparsityReport; denseModel: SparsityReport['overall'] };
  fineTuneUpdates?: UpdateReport;
  kernels: { dense: { backend: string; device: string; nativeGemm: BackendInfo['nativeGemm'] }; sparse: SparseKernelStatus };
}

/**
 * Measures dense against sparse inference of a task model under a module: time per batch (median
 * over `repeats` after `warmup` untimed runs, same batches), the task metric and predictions of
 * both, retained fraction and the kernels used. Writes the report to `options.out` when given.
 *
 * @throws InvalidInputError for an unknown task, invalid numbers, or data without examples.
 * @throws MismatchError when the module belongs to another base model.
 * @throws CheckpointError when a model or module folder cannot be read.
 */
export async function measureCost(options: CostOptions): Promise<CostReport> {
  const settings = {
    batchSize: positiveInteger('--batch-size', options.batchSize ?? 8),
    seqLen: positiveInteger('--seq-len', options.seqLen ?? 128),
    repeats: positiveInteger('--repeats', options.repeats ?? 5),
    warmup: nonNegativeInteger('--warmup', options.warmup ?? 1),
    maxExamples: positiveInteger('--max-examples', options.maxExamples ?? 64),
  };
  const { architecture } = options;
  const task = architecture.tasks[options.task];
  if (!task) {
    throw new InvalidInputError(`Unknown task "${options.task}" for ${architecture.name}: use one of ${Object.keys(architecture.tasks).join(', ')}`);
  }

  // backend, module, task model, data
  const backend = await initBackend();
  const module = loadModule(options.module, { scores: false });
  const loaded = await loadTask(architecture, task, options.model, options.data, settings.maxExamples);
  const { model } = loaded;
  let plan: SparsePlan | undefined;
  let denseMasked: DisposableLinearFn | undefined;
  try {
    const baseCheck = await checkModuleBase(architecture, loaded, module, options.module, options.base);
    plan = buildSparsePlan(model.base, module, { subject: `Module ${options.module}`, denseAbove: options.denseAbove });
    const sparse = sparseLinear(plan);
    const batches = task.batches(model, loaded.examples, { batchSize: settings.batchSize, maxLength: settings.seqLen });
    const tokens = batches.map((batch) => task.tokens(batch));
    log.info(
      `${architecture.name} ${options.task} (${loaded.kind} model): ${loaded.examples.length} ${loaded.split} examples in ${batches.length} batches; ` +
        `module "${module.domain}" keeps ${(plan.retainedFraction * 100).toFixed(1)}% of ${plan.layers.size} linear layers ` +
        `(${plan.paths.sparse} sparse, ${plan.paths.dense} dense); sparse kernel ${plan.kernel.kernel}`,
    );

    // accuracy and predictions of both paths, and the sparse path against the dense masked model
    const metrics = { dense: await model.evaluate(batches, { progress: false }), sparse: await model.evaluate(batches, { linear: sparse, progress: false }) };
    denseMasked = maskedDenseLinear(module);
    const predictions = await comparePredictions(model, batches, { sparse, denseMasked: denseMasked.linear }, architecture.taskHeadPattern);
    const { check: kernelCheck, layersRun } = compareWithDenseMasked(model, batches[0], denseMasked.linear, sparse);
    denseMasked.dispose();

    // timing
    const timing = await timePaths(model, batches, sparse, settings.warmup, settings.repeats, options.progress !== false);

    const report: CostReport = {
      architecture: architecture.name,
      task: options.task,
      split: loaded.split,
      model: { dir: options.model, kind: loaded.kind },
      module: { dir: options.module, domain: module.domain, weightRetentionRate: module.weightRetentionRate },
      baseCheck: baseCheck.method,
      inputs: {
        batches: batches.length,
        examples: loaded.examples.length,
        batchSize: settings.batchSize,
        seqLen: settings.seqLen,
        meanTokensPerBatch: tokens.reduce((a, b) => a + b, 0) / Math.max(1, tokens.length),
      },
      timing: { warmup: settings.warmup, repeats: settings.repeats, ...timing },
      metrics: { primary: task.info.primaryMetric, ...metrics },
      predictions,
      kernelCheck,
      retainedFraction: plan.retainedFraction,
      retainedFractionRun: retainedFractionOf(plan, layersRun),
      layerPaths: { denseAbove: plan.denseAbove, ...plan.paths },
      sparsity: { module: moduleSparsity(module), denseModel: modelSparsity(model.base.stateDict(), model.base.linearLayers()).overall },
      fineTuneUpdates: baseCheck.updates,
      kernels: { dense: { backend: backend.name, device: backend.device, nativeGemm: backend.nativeGemm }, sparse: plan.kernel },
    };
    if (options.out) writeJsonAtomic(options.out, report);
    return report;
  } finally {
    denseMasked?.dispose();
    plan?.dispose();
    model.dispose();
  }
}

/** Compares the predictions of the sparse path with those of the dense model as loaded and with the masks applied. */
async function comparePredictions(
  model: TaskModel,
  batches: unknown[],
  paths: { sparse: LinearFn; denseMasked: LinearFn },
  headPattern: string,
): Promise<CostReport['predictions']> {
  const sparse = await predictionsOf(model, batches, paths.sparse, headPattern);
  const dense = await predictionsOf(model, batches, undefined, headPattern);
  const denseMasked = await predictionsOf(model, batches, paths.denseMasked, headPattern);
  if (!sparse || !dense || !denseMasked) {
    log.warn('the task model returns no predictions to compare (no predict() and no head output per label); only metrics are compared');
    return { method: null, compared: 0, differingFromDenseMasked: 0, differingFromDense: 0 };
  }
  return {
    method: sparse.method,
    compared: sparse.values.length,
    differingFromDenseMasked: countDiffering(sparse.values, denseMasked.values),
    differingFromDense: countDiffering(sparse.values, dense.values),
  };
}

function countDiffering(a: string[], b: string[]): number {
  let differing = Math.abs(a.length - b.length);
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) differing++;
  return differing;
}

/**
 * Runs the first batch's loss with the dense masked layers and with the sparse kernels, compares
 * every linear output, and returns the weight names of the layers the pass ran.
 */
function compareWithDenseMasked(
  model: TaskModel,
  batch: unknown,
  denseMasked: LinearFn,
  sparse: LinearFn,
): { check: CostReport['kernelCheck']; layersRun: Set<string> } {
  const layersRun = new Set<string>();
  const record = (linear: LinearFn): Float32Array[] => {
    const outputs: Float32Array[] = [];
    const recording: LinearFn = (layer, x, weight, bias) => {
      const y = linear(layer, x, weight, bias);
      outputs.push(Float32Array.from(y.dataSync() as Float32Array));
      layersRun.add(layer.weight);
      return y;
    };
    tf.tidy(() => model.loss(batch, { linear: recording }));
    return outputs;
  };

  const expected = record(denseMasked);
  const actual = record(sparse);
  let maxAbsDiff = expected.length === actual.length ? 0 : Number.POSITIVE_INFINITY;
  for (let i = 0; i < Math.min(expected.length, actual.length); i++) {
    for (let j = 0; j < expected[i].length; j++) maxAbsDiff = Math.max(maxAbsDiff, Math.abs(expected[i][j] - actual[i][j]));
  }
  return { check: { maxAbsDiff, linearCalls: actual.length }, layersRun };
}

// retained / total over the planned layers whose weight is in `weights`
function retainedFractionOf(plan: SparsePlan, weights: Set<string>): number {
  let retained = 0;
  let total = 0;
  for (const [name, entry] of plan.layers) {
    if (!weights.has(name)) continue;
    retained += entry.retained;
    total += entry.total;
  }
  return total === 0 ? 0 : retained / total;
}

/** Times both paths over the same batches, alternating repeats; returns the time per batch of each. */
async function timePaths(
  model: TaskModel,
  batches: unknown[],
  sparse: LinearFn,
  warmup: number,
  repeats: number,
  progress: boolean,
): Promise<{ dense: PathTiming; sparse: PathTiming; speedup: number }> {
  const paths: [string, LinearFn | undefined][] = [
    ['dense', undefined],
    ['sparse', sparse],
  ];
  const bar = new ProgressBar({ label: 'cost', total: (warmup + repeats) * 2 * batches.length, unit: 'batches', enabled: progress });
  bar.start();
  const perBatch: Record<string, number[]> = { dense: [], sparse: [] };
  try {
    for (let run = 0; run < warmup + repeats; run++) {
      for (const [name, linear] of paths) {
        let total = 0;
        for (const batch of batches) {
          total += await timeMs(() => model.evaluate([batch], { linear, progress: false }));
          bar.increment(1, { run: run < warmup ? 'warm-up' : `repeat ${run - warmup + 1}/${repeats}`, path: name });
        }
        if (run >= warmup) perBatch[name].push(total / batches.length);
      }
    }
  } finally {
    bar.stop();
  }
  const dense = summarizeTiming(perBatch.dense);
  const sparseTiming = summarizeTiming(perBatch.sparse);
  return { dense, sparse: sparseTiming, speedup: median(perBatch.dense) / median(perBatch.sparse) };
}

function positiveInteger(flag: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new InvalidInputError(`Invalid ${flag} ${value}: use a whole number of at least 1`);
  return value;
}

function nonNegativeInteger(flag: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new InvalidInputError(`Invalid ${flag} ${value}: use a whole number of at least 0`);
  return value;
}
