import { Command, InvalidArgumentError } from 'commander';
import { loadArchitecture, type Architecture } from '@modularevo/masking';

import { measureCost, type CostReport } from '../measure/measure-cost';
import { DEFAULT_DENSE_ABOVE } from '../sparse/plan';

/** Options of {@link createCostCommand}. */
export interface CostCommandOptions {
  /** Returns the architecture `--arch` names (default: masking's `loadArchitecture`, the `architecture` export of `@modularevo/<name>`). */
  resolveArchitecture?: (name: string) => Architecture;
}

/**
 * Builds the `cost` subcommand of `modularevo`: dense against sparse inference of a task model
 * under a module. It prints a summary on stdout and, with `--out`, writes the full report as JSON.
 */
export function createCostCommand(options: CostCommandOptions = {}): Command {
  const resolve = options.resolveArchitecture ?? loadArchitecture;
  return new Command('cost')
    .description('Time dense against sparse (module-masked) inference of a task model on the same inputs, with the task metric of each')
    .requiredOption('--arch <name>', 'architecture: the package @modularevo/<name> that exports it, for example gptneo, codebert or codet5')
    .requiredOption('--model <dir>', 'fine-tuned task model folder (with task.json), or a base model folder, which gets a fresh task head')
    .requiredOption('--module <dir>', 'module folder whose masks make the sparse model')
    .requiredOption('--task <name>', 'task the model runs, for example mathqa')
    .requiredOption('--data <path>', "the task's data file or folder")
    .option('--base <dir>', 'base model folder of a fine-tuned --model, to check the module against its weights hash')
    .option('--batch-size <n>', 'examples per batch', integer, 8)
    .option('--seq-len <n>', 'maximum tokens per sequence', integer, 128)
    .option('--repeats <n>', 'timed runs of each path; the median is reported', integer, 5)
    .option('--warmup <n>', 'untimed runs of each path before timing', integer, 1)
    .option('--max-examples <n>', 'examples measured, from the test split (else validation, else train)', integer, 64)
    .option('--dense-above <fraction>', `a masked layer that keeps more than this fraction of its weights runs dense (default ${DEFAULT_DENSE_ABOVE}; 1 makes every layer sparse)`, fraction)
    .option('--out <file>', 'write the full report as JSON to this file')
    .option('--no-progress', 'draw no progress bar')
    .action(async (flags: Flags, command: Command) => {
      const report = await measureCost({ ...flags, architecture: resolve(flags.arch) });
      const out = command.configureOutput().writeOut ?? ((text: string) => process.stdout.write(text));
      out(formatReport(report));
      if (flags.out) out(`report written to ${flags.out}\n`);
    });
}

interface Flags {
  arch: string;
  model: string;
  module: string;
  task: string;
  data: string;
  base?: string;
  batchSize: number;
  seqLen: number;
  repeats: number;
  warmup: number;
  maxExamples: number;
  denseAbove?: number;
  out?: string;
  progress: boolean;
}

function fraction(value: string): number {
  const parsed = Number(value);
  if (value.trim() === '' || !(parsed >= 0 && parsed <= 1)) throw new InvalidArgumentError('expected a number from 0 to 1');
  return parsed;
}

function integer(value: string): number {
  const parsed = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(parsed)) throw new InvalidArgumentError('expected a whole number');
  return parsed;
}

/** Formats the summary lines `modularevo cost` prints. */
export function formatReport(report: CostReport): string {
  const { timing, metrics, predictions, kernels } = report;
  const metric = (values: Record<string, number>) => (values[metrics.primary] === undefined ? 'n/a' : values[metrics.primary].toFixed(4));
  const gemm = kernels.dense.nativeGemm?.available ? `native GEMM, ${kernels.dense.nativeGemm.threads} threads` : 'backend kernels';
  const sparse = kernels.sparse.kernel === 'native' ? `native ${kernels.sparse.instructionSet}, ${kernels.sparse.threads} threads` : `TypeScript (${kernels.sparse.reason})`;
  const agreement = (differing: number) => `${predictions.compared - differing} of ${predictions.compared} agree`;
  const predicted =
    predictions.method === null
      ? 'not available (the task model gives no predictions)'
      : `sparse vs dense masked ${agreement(predictions.differingFromDenseMasked)}, sparse vs dense ${agreement(predictions.differingFromDense)}`;
  const lines = [
    `${report.architecture} ${report.task}: ${report.model.kind} model, module "${report.module.domain}", ${report.inputs.examples} ${report.split} examples in ${report.inputs.batches} batches`,
    `retained fraction      ${(report.retainedFraction * 100).toFixed(2)}% of the masked linear weights, ${(report.retainedFractionRun * 100).toFixed(2)}% of those the task runs`,
    `masked layers          ${report.layerPaths.sparse} sparse, ${report.layerPaths.dense} dense (dense above ${(report.layerPaths.denseAbove * 100).toFixed(0)}% kept)`,
    `dense time per batch   ${timing.dense.medianMsPerBatch.toFixed(1)} ms (${kernels.dense.backend}, ${gemm})`,
    `sparse time per batch  ${timing.sparse.medianMsPerBatch.toFixed(1)} ms (${sparse})`,
    `speed-up               ${timing.speedup.toFixed(2)}x (median of ${timing.repeats} repeats after ${timing.warmup} warm-up)`,
    `${metrics.primary.padEnd(22)} dense ${metric(metrics.dense)}, sparse ${metric(metrics.sparse)}`,
    `predictions            ${predicted}`,
    `kernel check           max |sparse - dense masked| = ${report.kernelCheck.maxAbsDiff.toExponential(2)} over ${report.kernelCheck.linearCalls} linear layers`,
  ];
  return `${lines.join('\n')}\n`;
}
