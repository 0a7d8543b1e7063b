import * as path from 'path';

import { Command, InvalidArgumentError } from 'commander';

import { InvalidInputError } from '@modularevo/core-tensor';

import { readConfigFile } from '../config/config-file';
import { BUILTIN_DEFAULTS, PAPER_DEFAULTS, type DefaultSettings } from '../config/defaults';
import { mergeEvolveConfigs, type EvolveConfig, type TaskEntry } from '../config/evolve-config';
import { defaultRunFolder } from '../config/resolve';
import { STRATEGY_NAMES } from '../config/strategies';
import { evolve } from '../evolve/evolve';
import type { EvolveSummary } from '../report/summary';
import { parseCoefficients, parseDomainSpec, parseTaskDomain, parseTaskSpec } from './specs';

/**
 * Builds the `evolve` subcommand of `modularevo`: multi-stage evolution with ModularEvo and the
 * merging baselines side by side. With no task or domain it runs the built-in default offline.
 */
export function createEvolveCommand(): Command {
  return new Command('evolve')
    .summary('Evolve a model over several stages, ModularEvo and merging baselines side by side')
    .description(
      'Evolve a pretrained model over several stages: fine-tune every task, compose the fine-tuned models, repeat. ' +
        'ModularEvo and the baselines run side by side on the same data. With no --task or --domain, runs the built-in ' +
        'default: the tiny GPT-Neo shipped in datasets/builtin, tasks math-topic and langid, three stages.',
    )
    .option('--config <file>', 'YAML or JSON configuration file; flags override its values')
    .option('--arch <name>', 'architecture package: gptneo, codebert or codet5 (default gptneo)')
    .option('--model <dir>', 'base model folder in Hugging Face layout (default: the built-in tiny GPT-Neo)')
    .option('--task <name[=source]>', 'task and its data: a file or folder, or train:FILE,validation:FILE,test:FILE; repeat for more tasks', collect)
    .option('--task-domain <task=domain>', "domain whose module a task is fine-tuned on (default: the task's own default domain)", collect)
    .option('--domain <name[=path]>', 'domain corpus: a folder with train and test JSON-lines files; a built-in domain needs no path', collect)
    .option('--stages <n>', `number of stages ${both((d) => d.stages)}`, integer)
    .option('--strategies <list>', `comma-separated, from ${STRATEGY_NAMES.join(', ')} (default all but modularevo_relearn)`, list)
    .option('--seed <n>', 'root random seed of shards, heads, data order, masks and DARE drops (default 42)', integer)
    .option('--out <dir>', 'run folder (default runs/evolve-<UTC date and time>)')
    .option('--resume', 'continue the run in --out from its last finished step')
    .option('--keep-models', 'keep every fine-tuned and composed model, not only those of the last stage')
    .option('--threshold <rate>', `weight retention rate of the module each task is fine-tuned on ${both((d) => d.modularize.threshold)}`, number)
    .option('--modularize-steps <n>', `maximum optimizer steps of each modularization ${both((d) => d.modularize.maxSteps)}`, integer)
    .option('--modularize-lr <lr>', `learning rate of the mask scores ${both((d) => d.modularize.lr)}`, number)
    .option('--alpha <a>', `weight of the retention rate in the modularization loss ${both((d) => d.modularize.alpha)}`, number)
    .option('--modularize-batch-size <n>', `blocks per modularization step ${both((d) => d.modularize.batchSize)}`, integer)
    .option('--block-size <n>', `tokens per modularization block ${both((d) => d.modularize.blockSize)}`, integer)
    .option('--max-blocks <n>', 'use at most this many training blocks of each corpus (default all)', integer)
    .option('--max-documents <n>', `read at most this many documents of each corpus split ${both((d) => d.modularize.maxDocuments ?? 'all')}`, integer)
    .option('--eval-blocks <n>', `evaluate each module on at most this many test blocks of its corpus ${both((d) => d.modularize.evalBlocks ?? 'all')}`, integer)
    .option('--modularize-warmup-steps <n>', `warm-up steps of each modularization ${both((d) => d.modularize.warmupSteps)}`, integer)
    .option('--epochs <n>', `fine-tuning passes over each stage shard ${both((d) => d.finetune.epochs)}`, integer)
    .option('--max-steps <n>', 'stop each fine-tuning after this many optimizer steps (default: no limit)', integer)
    .option('--batch-size <n>', `fine-tuning examples per step ${both((d) => d.finetune.batchSize)}`, integer)
    .option('--lr <lr>', `fine-tuning learning rate ${both((d) => d.finetune.lr)}`, number)
    .option('--weight-decay <wd>', `fine-tuning weight decay ${both((d) => d.finetune.weightDecay)}`, number)
    .option('--warmup-steps <n>', `fine-tuning warm-up steps ${both((d) => d.finetune.warmupSteps)}`, integer)
    .option('--max-length <n>', `maximum tokens per example, longer texts are truncated ${both((d) => d.finetune.maxLength)}`, integer)
    .option('--eval-every <n>', 'validate every this many fine-tuning steps (default: at the end of every epoch)', integer)
    .option('--patience <n>', `stop fine-tuning after this many validations without improvement ${both((d) => d.finetune.patience ?? 'none')}`, integer)
    .option('--train-examples <n>', 'use at most this many training examples per task, a seeded sample (default all)', integer)
    .option('--validation-examples <n>', `validation examples per task, which choose checkpoints and coefficients ${both((d) => d.data.validationExamples ?? 'all')}`, integer)
    .option('--test-examples <n>', 'test examples per task, a seeded sample (default all)', integer)
    .option('--coefficients <grid>', `candidate coefficients per task: a list (0.4,0.7,1.0) or START:STOP:STEP ${both((d) => d.merge.coefficients.join(','))}`, parseCoefficients)
    .option('--trim <rate>', `TIES trim rate, the fraction of each task vector dropped ${both((d) => d.merge.trim)}`, number)
    .option('--drop <rate>', `DARE drop rate ${both((d) => d.merge.drop)}`, number)
    .option('--eval-batch-size <n>', `examples per evaluation batch ${both((d) => d.evalBatchSize)}`, integer)
    .option('--no-progress', 'draw no progress bars')
    .action(async (flags: Flags, command: Command) => {
      const fileConfig = flags.config ? readConfigFile(flags.config) : {};
      const config = mergeEvolveConfigs(fileConfig, flagsConfig(flags));

      // the run folder is resolved here, not inside evolve, so the interrupt message can print it
      const runDir = path.resolve(config.out ?? defaultRunFolder(new Date()));
      const stopOnInterrupt = () => {
        process.stderr.write(`\nInterrupted. Finished steps are kept, so continue with modularevo evolve --resume --out ${runDir}\n`);
        process.exit(130);
      };
      process.once('SIGINT', stopOnInterrupt);
      const result = await evolve({ config: { ...config, out: runDir }, resume: flags.resume, keepModels: flags.keepModels, progress: flags.progress }).finally(() =>
        process.off('SIGINT', stopOnInterrupt),
      );

      const out = command.configureOutput().writeOut ?? ((text: string) => process.stdout.write(text));
      out(formatFinalScores(result.summary));
      out(`report: ${result.report}\n`);
    });
}

interface Flags {
  config?: string;
  arch?: string;
  model?: string;
  task?: string[];
  taskDomain?: string[];
  domain?: string[];
  stages?: number;
  strategies?: string[];
  seed?: number;
  out?: string;
  resume?: boolean;
  keepModels?: boolean;
  threshold?: number;
  modularizeSteps?: number;
  modularizeLr?: number;
  alpha?: number;
  modularizeBatchSize?: number;
  blockSize?: number;
  maxBlocks?: number;
  maxDocuments?: number;
  evalBlocks?: number;
  modularizeWarmupSteps?: number;
  epochs?: number;
  maxSteps?: number;
  batchSize?: number;
  lr?: number;
  weightDecay?: number;
  warmupSteps?: number;
  maxLength?: number;
  evalEvery?: number;
  patience?: number;
  trainExamples?: number;
  validationExamples?: number;
  testExamples?: number;
  coefficients?: number[];
  trim?: number;
  drop?: number;
  evalBatchSize?: number;
  progress: boolean;
}

/** Converts the flags to an `EvolveConfig` holding only what was given. */
function flagsConfig(flags: Flags): EvolveConfig {
  const tasks = new Map<string, TaskEntry>();
  for (const entry of (flags.task ?? []).map(parseTaskSpec)) {
    if (tasks.has(entry.name)) throw new InvalidInputError(`--task ${entry.name} is given twice; give each task once`);
    tasks.set(entry.name, entry);
  }
  const domains = (flags.domain ?? []).map(parseDomainSpec);
  for (const [index, domain] of domains.entries()) {
    if (domains.findIndex((other) => other.name === domain.name) !== index) throw new InvalidInputError(`--domain ${domain.name} is given twice; give each domain once`);
  }
  for (const spec of flags.taskDomain ?? []) {
    const { task, domain } = parseTaskDomain(spec);
    tasks.set(task, { ...(tasks.get(task) ?? { name: task }), domain });
  }

  return {
    arch: flags.arch,
    model: flags.model,
    out: flags.out,
    stages: flags.stages,
    seed: flags.seed,
    strategies: flags.strategies,
    tasks: tasks.size > 0 ? [...tasks.values()] : undefined,
    domains: domains.length > 0 ? domains : undefined,
    modularize: {
      threshold: flags.threshold,
      maxSteps: flags.modularizeSteps,
      lr: flags.modularizeLr,
      alpha: flags.alpha,
      batchSize: flags.modularizeBatchSize,
      blockSize: flags.blockSize,
      maxBlocks: flags.maxBlocks,
      maxDocuments: flags.maxDocuments,
      evalBlocks: flags.evalBlocks,
      warmupSteps: flags.modularizeWarmupSteps,
    },
    finetune: {
      epochs: flags.epochs,
      maxSteps: flags.maxSteps,
      batchSize: flags.batchSize,
      lr: flags.lr,
      weightDecay: flags.weightDecay,
      warmupSteps: flags.warmupSteps,
      maxLength: flags.maxLength,
      evalEvery: flags.evalEvery,
      patience: flags.patience,
    },
    data: { trainExamples: flags.trainExamples, validationExamples: flags.validationExamples, testExamples: flags.testExamples },
    merge: { coefficients: flags.coefficients, trim: flags.trim, drop: flags.drop },
    evalBatchSize: flags.evalBatchSize,
  };
}

/** Formats the last finished stage's mean test score per strategy, for the end of the run. */
export function formatFinalScores(summary: EvolveSummary): string {
  const stage = summary.stagesFinished - 1;
  if (stage < 0) return 'no stage finished\n';
  const width = Math.max(...summary.strategies.map((strategy) => strategy.length));
  const lines = summary.strategies.map((strategy) => `${strategy.padEnd(width)}  ${summary.meanScores[strategy][stage]!.toFixed(4)}`);
  return `mean test score over ${summary.tasks.length} tasks after stage ${stage}:\n${lines.join('\n')}\n`;
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** Formats the default of a setting in both profiles, for help texts. */
function both(get: (defaults: DefaultSettings) => unknown): string {
  const paper = String(get(PAPER_DEFAULTS));
  const builtin = String(get(BUILTIN_DEFAULTS));
  return paper === builtin ? `(default ${paper})` : `(default ${paper}; ${builtin} in the built-in run)`;
}

function list(value: string): string[] {
  return value.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '');
}

function integer(value: string): number {
  const parsed = Number(value);
  if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(parsed)) throw new InvalidArgumentError('expected a whole number');
  return parsed;
}

function number(value: string): number {
  const parsed = Number(value);
  if (value.trim() === '' || !Number.isFinite(parsed)) throw new InvalidArgumentError('expected a number');
  return parsed;
}
