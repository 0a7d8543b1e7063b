/**
 * `modularevo finetune`: fine-tune a task head and the base model, fully or only where a
 * module's masks keep weights, for the architecture `--arch` names.
 */
import { Command, Option } from 'commander';

import { initBackend, InvalidInputError, SCHEDULER_TYPES, type SchedulerType } from '@modularevo/core-tensor';
import type { SplitFiles, TaskSource } from '@modularevo/datasets';

import { loadArchitecture } from '../load-architecture';
import { finetune, type FinetuneSummary } from '../finetune/finetune';
import { formatMiB } from '../workflow/resources';
import { integer, nameList, number } from './flags';
import type { WorkflowCommandOptions } from './modularize-command';
import { outputFolder } from './output-folder';

interface FinetuneFlags {
  arch: string;
  model: string;
  task: string;
  data?: string;
  train?: string;
  validation?: string;
  test?: string;
  module?: string;
  full?: boolean;
  epochs?: number;
  maxSteps?: number;
  batchSize: number;
  evalBatchSize?: number;
  lr: number;
  weightDecay: number;
  warmupSteps: number;
  scheduler: SchedulerType;
  maxGradNorm: number;
  gradientAccumulationSteps: number;
  evalEvery?: number;
  patience: number;
  maxLength?: number;
  validationFraction: number;
  maxTrain?: number;
  maxValidation?: number;
  maxTest?: number;
  labels?: string[];
  seed: number;
  out?: string;
  output?: string;
  runDir?: string;
  overwrite?: boolean;
  progress: boolean;
}

/**
 * Builds the `finetune` subcommand. Bad flags fail with one line from commander; invalid
 * values, data, models and modules fail with a ModularEvoError before anything is written.
 */
export function createFinetuneCommand(options: WorkflowCommandOptions = {}): Command {
  const resolve = options.resolveArchitecture ?? loadArchitecture;
  return new Command('finetune')
    .description(
      'Fine-tune a task head and the base model: only the weights a module keeps (--module) or every weight (--full). ' +
        'Keeps the model with the best validation metric, scores it on the test split and saves it as a Hugging Face model folder with task.json.',
    )
    .requiredOption('--arch <name>', 'architecture: the package @modularevo/<name> that exports it, for example gptneo')
    .requiredOption('--model <dir>', 'pretrained Hugging Face model folder (the base model)')
    .requiredOption('--task <name>', 'task of the architecture, for example mathqa, scotus, code, langid or a built-in task for gptneo')
    .addOption(new Option('--data <path>', "the task's data file or folder (its published layout, or train/validation/test JSON lines of {text, label})").conflicts(['train', 'validation', 'test']))
    .option('--train <file>', 'file of the train split (instead of --data; for MathQA, for example dev.json)')
    .option('--validation <file>', 'file of the validation split (default: hold out --validation-fraction of the train split)')
    .option('--test <file>', 'file of the test split')
    .addOption(new Option('--module <dir>', 'module folder: fine-tune only the base weights its masks keep').conflicts('full'))
    .option('--full', 'fine-tune every base weight (the baseline)')
    .option('--epochs <passes>', 'passes over the train split (default: 2 unless --max-steps is given; with both, the first limit reached ends training)', integer)
    .option('--max-steps <steps>', 'stop after this many optimizer steps', integer)
    .option('--batch-size <examples>', 'examples per micro-batch', integer, 4)
    .option('--eval-batch-size <examples>', 'examples per evaluation batch (default: --batch-size)', integer)
    .option('--lr <rate>', 'AdamW learning rate', number, 5e-5)
    .option('--weight-decay <rate>', 'AdamW weight decay', number, 0)
    .option('--warmup-steps <steps>', 'optimizer steps over which the learning rate rises from 0', integer, 0)
    .addOption(new Option('--scheduler <type>', 'learning-rate schedule after warm-up (linear decays to 0 at the last step)').choices(SCHEDULER_TYPES).default('linear'))
    .option('--max-grad-norm <norm>', 'largest global norm of the applied gradients; 0 turns clipping off', number, 1)
    .option('--gradient-accumulation-steps <count>', 'micro-batches averaged into one optimizer step', integer, 1)
    .option('--eval-every <steps>', 'evaluate on the validation split every this many steps (default: every epoch)', integer)
    .option('--patience <evaluations>', 'stop after this many evaluations without a better validation metric; 0 never stops early', integer, 3)
    .option('--max-length <tokens>', "tokens per example; longer inputs are truncated (default: the task's, 512 capped by the model's positions for gptneo)", integer)
    .option('--validation-fraction <fraction>', 'share of the train split held out for validation when there is no validation split; 0 trains without validation', number, 0.1)
    .option('--max-train <examples>', 'use at most this many train examples (a seeded sample)', integer)
    .option('--max-validation <examples>', 'use at most this many validation examples (a seeded sample)', integer)
    .option('--max-test <examples>', 'use at most this many test examples (a seeded sample)', integer)
    .option('--labels <names>', 'comma-separated label set, for example the labels of an earlier fine-tuned model (default: the labels of the train split)', nameList)
    .option('--seed <n>', 'seed of the head initialisation, data order, validation split and dropout', integer, 42)
    .option('--out <dir>', 'folder for the fine-tuned model (required)')
    .addOption(new Option('--output <dir>').hideHelp())
    .option('--run-dir <dir>', 'folder for config.json, metrics.jsonl and summary.json (default: --out with -run appended)')
    .option('--overwrite', 'replace an existing model folder and the logs of an earlier run')
    .option('--no-progress', 'draw no progress bar')
    .showSuggestionAfterError(false)
    .exitOverride()
    .action(async (flags: FinetuneFlags, command: Command) => {
      const architecture = resolve(flags.arch);
      const data = taskSource(flags);
      await initBackend();
      const summary = await finetune({
        architecture,
        model: flags.model,
        task: flags.task,
        data,
        module: flags.module,
        full: flags.full,
        outDir: outputFolder(flags),
        runDir: flags.runDir,
        epochs: flags.epochs,
        maxSteps: flags.maxSteps,
        batchSize: flags.batchSize,
        evalBatchSize: flags.evalBatchSize,
        lr: flags.lr,
        weightDecay: flags.weightDecay,
        warmupSteps: flags.warmupSteps,
        scheduler: flags.scheduler,
        maxGradNorm: flags.maxGradNorm,
        gradientAccumulationSteps: flags.gradientAccumulationSteps,
        evalEvery: flags.evalEvery,
        patience: flags.patience,
        maxLength: flags.maxLength,
        validationFraction: flags.validationFraction,
        maxExamples: { train: flags.maxTrain, validation: flags.maxValidation, test: flags.maxTest },
        labels: flags.labels,
        seed: flags.seed,
        overwrite: flags.overwrite,
        progress: flags.progress,
      });
      const write = command.configureOutput().writeOut ?? ((text: string) => process.stdout.write(text));
      write(formatFinetuneSummary(summary));
    });
}

/** Returns the data source from `--data`, or from the split flags. */
function taskSource(flags: FinetuneFlags): TaskSource {
  if (flags.data !== undefined) return flags.data;
  const files: SplitFiles = {};
  if (flags.train !== undefined) files.train = flags.train;
  if (flags.validation !== undefined) files.validation = flags.validation;
  if (flags.test !== undefined) files.test = flags.test;
  if (files.train === undefined) throw new InvalidInputError('No training data: pass --data PATH, or --train FILE (with --validation and --test FILE)');
  return files;
}

/** Formats the lines `modularevo finetune` prints. */
export function formatFinetuneSummary(summary: FinetuneSummary): string {
  const metrics = (values: Record<string, number> | undefined) =>
    values === undefined ? 'n/a' : Object.entries(values).map(([name, value]) => `${name} ${Number.isInteger(value) ? value : value.toFixed(4)}`).join(', ');
  const module = summary.module ? `module "${summary.module.domain}" (${(summary.module.weightRetentionRate * 100).toFixed(2)}% retained)` : 'every weight';
  const baseline = summary.majorityBaseline;
  const lines = [
    `${summary.architecture} ${summary.task}: ${summary.strategy} fine-tuning of ${module}, ${summary.training.steps} steps, kept step ${summary.keptStep}`,
    `validation       ${metrics(summary.validation)}`,
    `test             ${metrics(summary.test)}`,
    ...(baseline ? [`majority class   accuracy ${baseline.accuracy.toFixed(4)} ("${baseline.label}" on ${baseline.examples} test examples)`] : []),
    `changed weights  ${(summary.parameterChanges.changedFraction * 100).toFixed(2)}% of the base entries` +
      (summary.module ? `, ${summary.parameterChanges.maskedOutChanged} outside the module` : ''),
    `throughput       ${summary.throughput.stepsPerSecond.toFixed(2)} steps/s, ${summary.throughput.tokensPerSecond.toFixed(0)} tokens/s`,
    `peak memory      rss ${formatMiB(summary.memory.rssBytes)}, tensors ${formatMiB(summary.memory.tensorBytes)}`,
    `model            ${summary.modelDir} (logs in ${summary.runDir})`,
  ];
  return `${lines.join('\n')}\n`;
}
