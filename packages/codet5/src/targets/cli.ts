/**
 * The command behind the `codet5:modularize` and `codet5:finetune` Nx targets:
 * `codet5 modularize --model DIR --data DIR --domain LANG` and
 * `codet5 finetune --task summarize|concode --model DIR --data DIR`.
 */
import { Command, CommanderError, InvalidArgumentError } from 'commander';

import { ModularEvoError, initBackend, setLogLevel } from '@modularevo/core-tensor';

import { runFinetune } from './finetune';
import { runModularize } from './modularize';

/** Builds the `codet5` program with its two subcommands. */
export function createCodeT5Program(): Command {
  const program = new Command('codet5')
    .description('Modularize and fine-tune CodeT5 models (ModularEvo on TensorFlow.js).')
    .option('--log-level <level>', 'silent, error, warn, info, debug or trace', 'info')
    .hook('preAction', (command) => setLogLevel(command.opts().logLevel))
    .showHelpAfterError()
    .exitOverride();

  program
    .command('modularize')
    .description('Learn a module of a CodeT5 model on one CodeSearchNet language with span corruption.')
    .requiredOption('--model <dir>', 'Hugging Face CodeT5 model folder')
    .requiredOption('--data <dir>', 'CodeSearchNet folder with <lang>/final/jsonl/<split>/')
    .requiredOption('--domain <language>', 'language of the corpus, which names the module (python, java, go, javascript, php, ruby)')
    .option('--output <dir>', 'run folder (default runs/codet5-modularize-<domain>)')
    .option('--block-size <tokens>', 'tokens per block before corruption (default 256)', integer)
    .option('--train-batch-size <blocks>', 'blocks per step (default 8)', integer)
    .option('--lr <rate>', 'learning rate of the mask scores (default 0.001)', number)
    .option('--alpha <weight>', 'weight of the retention rate in the loss (default 10)', number)
    .option('--epochs <count>', 'passes over the corpus (default 2)', integer)
    .option('--max-steps <count>', 'stop after this many steps', integer)
    .option('--thresholds <rates>', 'comma-separated retention rates that save a snapshot (default 0.75,0.5,0.25)', numbers)
    .option('--seed <seed>', 'seed of the mask initialisation and corruption (default 1203)', integer)
    .option('--max-documents <count>', 'read at most this many functions', integer)
    .option('--max-blocks <count>', 'use at most this many blocks', integer)
    .option('--no-progress', 'draw no progress bar')
    .action(async (options) => {
      await initBackend();
      const { trainBatchSize, ...rest } = options;
      const output = options.output ?? `runs/codet5-modularize-${options.domain}`;
      const summary = await runModularize({ ...rest, batchSize: trainBatchSize, output });
      process.stdout.write(`${JSON.stringify({ modules: summary.modules, finalRetentionRate: summary.finalRetentionRate, steps: summary.steps })}\n`);
    });

  program
    .command('finetune')
    .description('Fine-tune a CodeT5 model on summarize or concode, fully or guided by a module, and evaluate by generation.')
    .requiredOption('--task <task>', 'summarize or concode')
    .requiredOption('--model <dir>', 'Hugging Face CodeT5 model folder')
    .requiredOption('--data <dir>', 'code-to-text language folder (summarize) or Concode folder (concode)')
    .option('--output <dir>', 'run folder (default runs/codet5-finetune-<task>)')
    .option('--language <language>', 'language of the summarize data, its default domain (default python)')
    .option('--module <dir>', 'module folder for mask-guided fine-tuning')
    .option('--epochs <count>', 'passes over the train split (default 1)', integer)
    .option('--max-steps <count>', 'stop after this many steps', integer)
    .option('--train-batch-size <examples>', 'examples per step (default 8)', integer)
    .option('--eval-batch-size <examples>', 'examples per generation batch (default 8)', integer)
    .option('--lr <rate>', 'learning rate (default 5e-5 for summarize, 1e-4 for concode)', number)
    .option('--weight-decay <rate>', 'AdamW weight decay (default 0)', number)
    .option('--num-beams <count>', 'beams when generating for evaluation (default 1, greedy)', integer)
    .option('--max-source-length <tokens>', 'source limit (default 256 summarize, 320 concode)', integer)
    .option('--max-target-length <tokens>', 'target and generation limit (default 128 summarize, 150 concode)', integer)
    .option('--max-train <count>', 'use at most this many train examples', integer)
    .option('--max-validation <count>', 'use at most this many validation examples', integer)
    .option('--max-test <count>', 'use at most this many test examples', integer)
    .option('--seed <seed>', 'seed of the data order and sampling (default 1234)', integer)
    .option('--no-progress', 'draw no progress bar')
    .action(async (options) => {
      await initBackend();
      const { maxTrain, maxValidation, maxTest, trainBatchSize, ...rest } = options;
      const maxExamples = { train: maxTrain, validation: maxValidation, test: maxTest };
      const output = options.output ?? `runs/codet5-finetune-${options.task}`;
      const summary = await runFinetune({ ...rest, batchSize: trainBatchSize, maxExamples, output });
      process.stdout.write(`${JSON.stringify({ validation: summary.validation, test: summary.test, modelDir: summary.modelDir })}\n`);
    });

  return program;
}

/**
 * Runs the command. Errors raised on purpose (bad input, missing files) print as one line and
 * exit with status 1; anything else keeps its stack trace.
 */
export async function main(argv: string[]): Promise<void> {
  try {
    await createCodeT5Program().parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      process.exitCode = error.exitCode;
      return;
    }
    if (error instanceof ModularEvoError) {
      process.stderr.write(`error: ${error.message}\n`);
      process.exitCode = 1;
      return;
    }
    throw error;
  }
}

function integer(value: string): number {
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed)) throw new InvalidArgumentError(`"${value}" is not an integer.`);
  return parsed;
}

function number(value: string): number {
  const parsed = Number(value);
  if (value.trim() === '' || !Number.isFinite(parsed)) throw new InvalidArgumentError(`"${value}" is not a number.`);
  return parsed;
}

function numbers(value: string): number[] {
  return value.split(',').map(number);
}
