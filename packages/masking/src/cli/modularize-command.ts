/**
 * `modularevo modularize`: learn a module of a pretrained model on one domain's corpus, for the
 * architecture `--arch` names.
 */
import { Command, Option } from 'commander';

import { initBackend } from '@modularevo/core-tensor';

import type { Architecture } from '../architecture';
import { loadArchitecture } from '../load-architecture';
import { modularize, type ModularizeSummary } from '../modularizer/modularize';
import { MODULARIZE_SCHEDULERS, type ModularizeScheduler } from '../modularizer/options';
import { formatMiB } from '../workflow/resources';
import { integer, number, numberList } from './flags';
import { outputFolder } from './output-folder';

/** Options of the command builders. */
export interface WorkflowCommandOptions {
  /** Returns the architecture `--arch` names (default: {@link loadArchitecture}). */
  resolveArchitecture?: (name: string) => Architecture;
}

interface ModularizeFlags {
  arch: string;
  model: string;
  domain: string;
  corpus: string;
  testCorpus?: string;
  thresholds: number[];
  alpha: number;
  lr: number;
  weightDecay: number;
  warmupSteps: number;
  scheduler: ModularizeScheduler;
  epochs?: number;
  maxSteps?: number;
  batchSize: number;
  blockSize: number;
  nonBinary?: boolean;
  maskForward: 'binary' | 'hardtanh';
  maxGradNorm: number;
  seed: number;
  maxTrainBlocks?: number;
  maxEvalBlocks?: number;
  maxDocuments?: number;
  saveEvery: number;
  runDir?: string;
  out?: string;
  output?: string;
  resume?: boolean;
  overwrite?: boolean;
  progress: boolean;
}

/**
 * Builds the `modularize` subcommand. Bad flags fail with one line from commander; invalid
 * values, files and models fail with a ModularEvoError before anything is written.
 */
export function createModularizeCommand(options: WorkflowCommandOptions = {}): Command {
  const resolve = options.resolveArchitecture ?? loadArchitecture;
  return new Command('modularize')
    .description(
      'Learn a module (binary masks over the linear layers) of a pretrained model on a domain corpus. ' +
        'Saves a module the first time the weight retention rate falls to each threshold (<out>/wrr_<threshold>/) and at the end (<out>/final/).',
    )
    .requiredOption('--arch <name>', 'architecture: the package @modularevo/<name> that exports it, for example gptneo')
    .requiredOption('--model <dir>', 'pretrained Hugging Face model folder')
    .requiredOption('--domain <name>', 'name of the corpus domain, which names the module, for example math')
    .requiredOption(
      '--corpus <path>',
      'corpus of {"text": ...} JSON lines (plain, .gz or .zst): a folder with train and test splits (train.jsonl, test.jsonl, or train/ and test/ of files), or the training file or folder with --test-corpus. ' +
        'An architecture may also read a layout of its own (see its README), for example a CodeSearchNet folder (<lang>/final/jsonl/<split>/) with --domain as the language',
    )
    .option('--test-corpus <path>', 'held-out file or folder for the test loss (default: the test split of --corpus)')
    .addOption(
      new Option('--thresholds <rates>', 'comma-separated weight retention rates, each strictly between 0 and 1, that save a snapshot')
        .argParser(numberList)
        .default([0.75, 0.5, 0.25], '0.75,0.5,0.25'),
    )
    .option('--alpha <weight>', 'weight of the retention loss: loss = LM loss + alpha * retention loss', number, 1)
    .option('--lr <rate>', 'AdamW learning rate of the mask scores', number, 0.005)
    .option('--weight-decay <rate>', 'AdamW weight decay of the mask scores', number, 0)
    .option('--warmup-steps <steps>', 'optimizer steps over which the learning rate rises from 0', integer, 0)
    .addOption(
      new Option('--scheduler <type>', 'learning rate after warm-up: linear decays to 0 at the last step, constant_with_warmup keeps it')
        .choices(MODULARIZE_SCHEDULERS)
        .default('linear'),
    )
    .option('--epochs <passes>', 'passes over the training blocks (default: 2 unless --max-steps is given; with both, the first limit reached ends training)', integer)
    .option('--max-steps <steps>', 'stop after this many optimizer steps', integer)
    .option('--batch-size <blocks>', 'blocks per optimizer step', integer, 4)
    .option('--block-size <tokens>', 'tokens per block (at most the model\'s max_position_embeddings)', integer, 512)
    .option('--non-binary', 'use mean(hardtanh(score, 0, 1)) as the retention loss instead of the binary retention rate')
    .addOption(
      new Option('--mask-forward <mode>', 'mask in the forward pass: binary (score > 0) or hardtanh (clamp(score, 0, 1))').choices(['binary', 'hardtanh']).default('binary'),
    )
    .option('--max-grad-norm <norm>', 'largest global gradient norm of the scores; 0 turns clipping off', number, 1)
    .option('--seed <n>', 'seed of the score initialisation, block order and dropout', integer, 1203)
    .option('--max-train-blocks <blocks>', 'use at most this many training blocks (default: all)', integer)
    .option('--max-eval-blocks <blocks>', 'evaluate on at most this many test blocks (default: all)', integer)
    .option('--max-documents <count>', 'read at most this many documents per split (default: all)', integer)
    .option('--save-every <steps>', 'write the resumable checkpoint every this many steps (and at every snapshot and the end)', integer, 500)
    .option('--out <dir>', 'folder for the modules, wrr_<threshold>/ and final/ (required)')
    .addOption(new Option('--output <dir>').hideHelp())
    .option('--run-dir <dir>', 'folder for config.json, metrics.jsonl, summary.json and the checkpoint (default: --out)')
    .addOption(new Option('--resume', 'continue the interrupted run from the checkpoint in the run folder').conflicts('overwrite'))
    .option('--overwrite', 'replace the modules and logs of an earlier run')
    .option('--no-progress', 'draw no progress bar')
    .showSuggestionAfterError(false)
    .exitOverride()
    .action(async (flags: ModularizeFlags, command: Command) => {
      const architecture = resolve(flags.arch);
      await initBackend();
      const summary = await modularize({
        architecture,
        model: flags.model,
        domain: flags.domain,
        corpus: flags.testCorpus === undefined ? flags.corpus : { train: flags.corpus, test: flags.testCorpus },
        outDir: outputFolder(flags),
        runDir: flags.runDir,
        thresholds: flags.thresholds,
        alpha: flags.alpha,
        lr: flags.lr,
        weightDecay: flags.weightDecay,
        warmupSteps: flags.warmupSteps,
        scheduler: flags.scheduler,
        epochs: flags.epochs,
        maxSteps: flags.maxSteps,
        batchSize: flags.batchSize,
        blockSize: flags.blockSize,
        nonBinary: flags.nonBinary,
        maskForward: flags.maskForward,
        maxGradNorm: flags.maxGradNorm,
        seed: flags.seed,
        maxTrainBlocks: flags.maxTrainBlocks,
        maxEvalBlocks: flags.maxEvalBlocks,
        maxDocuments: flags.maxDocuments,
        saveEvery: flags.saveEvery,
        resume: flags.resume,
        overwrite: flags.overwrite,
        progress: flags.progress,
      });
      const write = command.configureOutput().writeOut ?? ((text: string) => process.stdout.write(text));
      write(formatModularizeSummary(summary));
    });
}

/** Formats the lines `modularevo modularize` prints. */
export function formatModularizeSummary(summary: ModularizeSummary): string {
  const percent = (rate: number) => `${(rate * 100).toFixed(2)}%`;
  const lines = [
    `${summary.architecture} ${summary.domain}: ${summary.steps} steps, final weight retention rate ${percent(summary.finalRetentionRate)}`,
    `unmasked model   test loss ${summary.modelEvaluation.loss.toFixed(4)} (perplexity ${summary.modelEvaluation.perplexity.toFixed(2)})`,
    ...summary.snapshots.map(
      (snapshot) =>
        `${snapshot.name.padEnd(16)} step ${String(snapshot.step).padStart(6)}, retention ${percent(snapshot.weightRetentionRate)}, ` +
        `test loss ${snapshot.evaluation.module.loss.toFixed(4)} (perplexity ${snapshot.evaluation.module.perplexity.toFixed(2)}), ${snapshot.dir}`,
    ),
    `throughput       ${summary.throughput.stepsPerSecond.toFixed(2)} steps/s, ${summary.throughput.tokensPerSecond.toFixed(0)} tokens/s`,
    `peak memory      rss ${formatMiB(summary.memory.rssBytes)}, tensors ${formatMiB(summary.memory.tensorBytes)}`,
  ];
  return `${lines.join('\n')}\n`;
}
