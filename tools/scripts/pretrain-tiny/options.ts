/**
 * Command-line options of the pretraining script, parsed with Node's `util.parseArgs` and
 * checked before any work starts. Option names follow the Hugging Face `TrainingArguments`
 * fields they set (`--max-steps` is `max_steps`).
 */
import * as path from 'path';
import { parseArgs } from 'util';

import { InvalidInputError } from '@modularevo/core-tensor';
import { builtinDataDir, builtinModelDir } from '@modularevo/datasets';

/** Repository root; relative paths on the command line are taken from here. */
export const REPOSITORY = path.resolve(__dirname, '..', '..', '..');

/** Settings of one pretraining run. */
export interface PretrainOptions {
  /** Optimizer steps (`max_steps`). */
  maxSteps: number;
  /** Blocks per step (`per_device_train_batch_size`). */
  batchSize: number;
  /** Tokens per block (`block_size` of `run_clm.py`). */
  blockSize: number;
  /** Peak learning rate, reached after the warm-up (`learning_rate`). */
  learningRate: number;
  warmupSteps: number;
  /** AdamW weight decay of the weight matrices; biases and LayerNorm parameters get none. */
  weightDecay: number;
  maxGradNorm: number;
  seed: number;
  /** Steps between evaluations on a sample of the test blocks. */
  evalEvery: number;
  /** Test blocks per domain in those evaluations; the final evaluation uses every test block. */
  evalBlocks: number;
  /** Steps between resumable checkpoints in the run folder. */
  saveEvery: number;
  /** Model folder to write. */
  out: string;
  /** Folder of the built-in corpora and the tokenizer (`datasets/builtin`). */
  data: string;
  /** Run folder for `metrics.jsonl`, the run's `config.json` and checkpoints. */
  runDir: string;
  /** Continue from the checkpoint in the run folder. */
  resume: boolean;
  /** Skip the progress bar (logs and metrics stay). */
  noProgress: boolean;
}

const HELP = `Pretrain the built-in tiny GPT-Neo on the four built-in corpora and write it as a Hugging Face model folder.

Usage: nx run gptneo:pretrain-tiny [--option=value ...]   (nx takes --help itself: use -- --help)

Options (relative paths are taken from the repository root):
  --max-steps N        optimizer steps (default 2000)
  --batch-size N       blocks per step (default 8)
  --block-size N       tokens per block (default 128)
  --learning-rate X    peak learning rate after the warm-up (default 0.002)
  --warmup-steps N     steps of linear warm-up, then linear decay to 0 (default 100)
  --weight-decay X     AdamW weight decay of weight matrices; biases and LayerNorm get none (default 0.01)
  --max-grad-norm X    clip the global gradient norm to X; 0 turns clipping off (default 1.0)
  --seed N             seed of initialisation and data order (default 42)
  --eval-every N       steps between evaluations on a sample of the test blocks (default 250)
  --eval-blocks N      test blocks per domain in those evaluations (default 16)
  --save-every N       steps between resumable checkpoints (default 500)
  --out DIR            model folder to write (default datasets/builtin/gpt-neo-tiny)
  --data DIR           built-in data folder with corpora/ and gpt-neo-tiny/ (default datasets/builtin)
  --run-dir DIR        run folder for metrics.jsonl and checkpoints (default runs/pretrain-tiny)
  --resume             continue from the checkpoint in the run folder, with the same settings
  --no-progress        do not draw the progress bar
  --help               show this help`;

/** Default settings: about 25 minutes on 2 cores with the wasm backend. */
export const DEFAULT_OPTIONS = {
  maxSteps: 2000,
  batchSize: 8,
  blockSize: 128,
  learningRate: 2e-3,
  warmupSteps: 100,
  weightDecay: 0.01,
  maxGradNorm: 1.0,
  seed: 42,
  evalEvery: 250,
  evalBlocks: 16,
  saveEvery: 500,
} as const;

/**
 * Parses `argv` (without the node and script arguments). Returns undefined after printing the
 * help for `--help`.
 *
 * @throws InvalidInputError for an unknown option or an invalid value, naming the option
 */
export function parsePretrainOptions(argv: string[]): PretrainOptions | undefined {
  const stringOption = { type: 'string' } as const;
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        'max-steps': stringOption,
        'batch-size': stringOption,
        'block-size': stringOption,
        'learning-rate': stringOption,
        'warmup-steps': stringOption,
        'weight-decay': stringOption,
        'max-grad-norm': stringOption,
        seed: stringOption,
        'eval-every': stringOption,
        'eval-blocks': stringOption,
        'save-every': stringOption,
        out: stringOption,
        data: stringOption,
        'run-dir': stringOption,
        resume: { type: 'boolean' },
        'no-progress': { type: 'boolean' },
        help: { type: 'boolean' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new InvalidInputError(`${(error as Error).message}; run with --help for the options`);
  }
  if (values.help) {
    console.log(HELP);
    return undefined;
  }

  const text = (name: string) => values[name] as string | undefined;
  const options: PretrainOptions = {
    maxSteps: integer(text('max-steps'), 'max-steps', DEFAULT_OPTIONS.maxSteps, 1),
    batchSize: integer(text('batch-size'), 'batch-size', DEFAULT_OPTIONS.batchSize, 1),
    blockSize: integer(text('block-size'), 'block-size', DEFAULT_OPTIONS.blockSize, 2),
    learningRate: number(text('learning-rate'), 'learning-rate', DEFAULT_OPTIONS.learningRate, (x) => x > 0),
    warmupSteps: integer(text('warmup-steps'), 'warmup-steps', DEFAULT_OPTIONS.warmupSteps, 0),
    weightDecay: number(text('weight-decay'), 'weight-decay', DEFAULT_OPTIONS.weightDecay, (x) => x >= 0),
    maxGradNorm: number(text('max-grad-norm'), 'max-grad-norm', DEFAULT_OPTIONS.maxGradNorm, (x) => x >= 0),
    seed: integer(text('seed'), 'seed', DEFAULT_OPTIONS.seed, 0),
    evalEvery: integer(text('eval-every'), 'eval-every', DEFAULT_OPTIONS.evalEvery, 1),
    evalBlocks: integer(text('eval-blocks'), 'eval-blocks', DEFAULT_OPTIONS.evalBlocks, 1),
    saveEvery: integer(text('save-every'), 'save-every', DEFAULT_OPTIONS.saveEvery, 1),
    out: resolvePath(text('out')) ?? builtinModelDir(),
    data: resolvePath(text('data')) ?? builtinDataDir(),
    runDir: resolvePath(text('run-dir')) ?? path.join(REPOSITORY, 'runs', 'pretrain-tiny'),
    resume: values.resume === true,
    noProgress: values['no-progress'] === true,
  };
  if (options.seed > 0xffffffff) throw new InvalidInputError(`Invalid --seed ${options.seed}: use an integer from 0 to 4294967295`);
  if (options.warmupSteps > options.maxSteps) {
    throw new InvalidInputError(`Invalid --warmup-steps ${options.warmupSteps}: it exceeds --max-steps ${options.maxSteps}`);
  }
  return options;
}

function resolvePath(value: string | undefined): string | undefined {
  return value === undefined ? undefined : path.resolve(REPOSITORY, value);
}

function integer(value: string | undefined, name: string, fallback: number, minimum: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(parsed) || parsed < minimum) {
    throw new InvalidInputError(`Invalid --${name} "${value}": use an integer of at least ${minimum}`);
  }
  return parsed;
}

function number(value: string | undefined, name: string, fallback: number, valid: (x: number) => boolean): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (value.trim() === '' || !Number.isFinite(parsed) || !valid(parsed)) {
    throw new InvalidInputError(`Invalid --${name} "${value}": use a ${name === 'learning-rate' ? 'positive' : 'non-negative'} number`);
  }
  return parsed;
}
