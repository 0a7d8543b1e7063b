/**
 * The `modularize` and `finetune` subcommands of `modularevo` with `--arch gptneo`, run the way
 * the `modularevo` program runs them. A ModularEvoError prints as one `error:` line with exit
 * code 1, and a commander error (bad flag) prints its own line with exit code 1.
 */
import * as fs from 'fs';
import * as path from 'path';

import { Command, CommanderError } from 'commander';

import { initBackend, ModularEvoError, setLogLevel } from '@modularevo/core-tensor';
import { createFinetuneCommand, createModularizeCommand } from '@modularevo/masking';
import { dataset, modelFixturesOfType, temporaryDir } from '@modularevo/test-support';

const [fixture] = modelFixturesOfType('gpt_neo');

interface CliResult {
  exitCode: number;
  stdout: string;
  /** Lines written to stderr by the command or the error handler (logs excluded). */
  errors: string[];
}

/** Runs `modularevo <argv>` with the two workflow commands and returns what it printed. */
async function runCli(argv: string[]): Promise<CliResult> {
  const stdout: string[] = [];
  const errors: string[] = [];
  const output = { writeOut: (text: string) => stdout.push(text), writeErr: (text: string) => errors.push(text) };
  const program = new Command('modularevo').exitOverride().configureOutput(output);
  for (const command of [createModularizeCommand(), createFinetuneCommand()]) program.addCommand(command.configureOutput(output));

  let exitCode = 0;
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      exitCode = error.exitCode;
    } else if (error instanceof ModularEvoError) {
      errors.push(`error: ${error.message}\n`);
      exitCode = 1;
    } else {
      throw error;
    }
  }
  return { exitCode, stdout: stdout.join(''), errors: errors.join('').split('\n').filter((line) => line.length > 0) };
}

function modularizeArgs(out: string, extra: string[] = []): string[] {
  return ['modularize', '--arch', 'gptneo', '--model', fixture.dir, '--domain', 'math', '--corpus', dataset('dm_mathematics'),
    '--block-size', '32', '--max-eval-blocks', '4', '--no-progress', '--out', out, ...extra];
}

function finetuneArgs(out: string, extra: string[] = []): string[] {
  return ['finetune', '--arch', 'gptneo', '--model', fixture.dir, '--task', 'mathqa', '--train', dataset('mathqa', 'dev.json'),
    '--test', dataset('mathqa', 'test.json'), '--max-train', '32', '--max-test', '16', '--max-length', '32', '--no-progress', '--out', out, ...extra];
}

let moduleDir: string;

// Training runs take several seconds, more on a loaded machine. Run from the repository root,
// Jest ignores the preset's per-project testTimeout and applies its 5 s default.
jest.setTimeout(300_000);

beforeAll(async () => {
  await initBackend();
  setLogLevel('warn');
  const out = path.join(temporaryDir(), 'modules');
  const result = await runCli(modularizeArgs(out, ['--max-steps', '3', '--lr', '0.1', '--thresholds', '0.99']));
  if (result.exitCode !== 0) throw new Error(`modularize failed: ${result.errors.join(' | ')}`);
  moduleDir = path.join(out, 'final');
});
afterAll(() => setLogLevel('info'));

describe('modularevo modularize', () => {
  it('prints the modules it saved', async () => {
    const out = path.join(temporaryDir(), 'modules');
    const result = await runCli(modularizeArgs(out, ['--max-steps', '2', '--lr', '0.1', '--thresholds', '0.99']));
    expect(result).toMatchObject({ exitCode: 0, errors: [] });
    expect(result.stdout).toMatch(/^gptneo math: 2 steps, final weight retention rate \d+\.\d+%$/m);
    expect(result.stdout).toMatch(/^wrr_0\.99 +step +\d, retention/m);
    expect(result.stdout).toMatch(/^throughput +\d+\.\d+ steps\/s, \d+ tokens\/s$/m);
    expect(fs.readdirSync(out).sort()).toEqual(['checkpoint', 'config.json', 'final', 'metrics.jsonl', 'summary.json', 'wrr_0.99']);
  });

  it('documents every flag with its unit or default', () => {
    const command = createModularizeCommand();
    const help = command.helpInformation();
    for (const option of command.options.filter((entry) => !entry.hidden)) {
      expect({ flag: option.long, described: option.description.length > 10 }).toEqual({ flag: option.long, described: true });
    }
    expect(help).toMatch(/--lr <rate> +AdamW learning rate of the mask scores\s+\(default:\s+0\.005\)/);
    expect(help).toMatch(/--thresholds <rates>[\s\S]*\(default: 0\.75,0\.5,0\.25\)/);
    expect(help).toMatch(/--block-size <tokens>/);
  });
});

describe('modularevo finetune', () => {
  it('prints test metrics and the majority baseline', async () => {
    const out = path.join(temporaryDir(), 'mathqa');
    const result = await runCli(finetuneArgs(out, ['--module', moduleDir, '--max-steps', '2', '--batch-size', '8']));
    expect(result).toMatchObject({ exitCode: 0, errors: [] });
    expect(result.stdout).toMatch(/^gptneo mathqa: module fine-tuning of module "math" \(\d+\.\d+% retained\), 2 steps/m);
    expect(result.stdout).toMatch(/^test +accuracy \d\.\d{4}, macro-f1/m);
    expect(result.stdout).toMatch(/^majority class +accuracy \d\.\d{4}/m);
    expect(result.stdout).toMatch(/^changed weights +\d+\.\d+% of the base entries, 0 outside the module$/m);
    expect(fs.existsSync(path.join(out, 'task.json'))).toBe(true);
  });

  it('documents every flag', () => {
    const command = createFinetuneCommand();
    for (const option of command.options.filter((entry) => !entry.hidden)) {
      expect({ flag: option.long, described: option.description.length > 10 }).toEqual({ flag: option.long, described: true });
    }
    expect(command.helpInformation()).toMatch(/--lr <rate> +AdamW learning rate\s+\(default:\s+0\.00005\)/);
  });
});

describe('bad input prints one line and exits 1', () => {
  const badCases: [string, (out: string) => string[], RegExp][] = [
    ['a threshold outside (0, 1)', (out) => modularizeArgs(out, ['--thresholds', '0.5,1.5']), /^error: Invalid threshold 1\.5: a snapshot threshold is a weight retention rate strictly between 0 and 1/],
    ['a value that is not a number', (out) => modularizeArgs(out, ['--lr', 'fast']), /^error: option '--lr <rate>' argument 'fast' is invalid\. expected a number$/],
    ['an unknown flag', (out) => modularizeArgs(out, ['--speed', '2']), /^error: unknown option '--speed'/],
    ['an architecture that is not installed', (out) => ['modularize', '--arch', 'gpt5', '--model', fixture.dir, '--domain', 'x', '--corpus', 'x', '--out', out], /^error: Unknown architecture "gpt5": package @modularevo\/gpt5 is not installed; installed architectures: .*gptneo/],
    ['a corpus without a text field', (out) => modularizeArgs(out, ['--corpus', writeCorpus(path.dirname(out))]), /^error: .*train\.jsonl: line 1 has no "text" string field \(it has body\)/],
    ['a label not in the label set', (out) => finetuneArgs(out, ['--full', '--labels', 'gain,general']), /^error: .*dev\.json row \d+: label "\w+" of task mathqa is not in the label set \(gain, general\)/],
    ['a module of another base model', (out) => finetuneArgs(out, ['--module', moduleDir, '--model', writeOtherModel(path.dirname(out))]), /^error: Module .* was learned on a base model with weights SHA-256/],
    ['both a module and full', (out) => finetuneArgs(out, ['--module', moduleDir, '--full']), /^error: option '--module <dir>' cannot be used with option '--full'$/],
    ['both data and split files', (out) => finetuneArgs(out, ['--full', '--data', dataset('mathqa')]), /^error: option '--data <path>' cannot be used with option '--train <file>'$/],
  ];

  it.each(badCases)('rejects %s', async (_case, args, message) => {
    const root = temporaryDir();
    const out = path.join(root, 'out');
    const result = await runCli(args(out));
    expect(result.exitCode).toBe(1);
    expect(result.errors).toHaveLength(1);
    expect(result.errors[0]).toMatch(message);
    expect(result.stdout).toBe('');
    expect(fs.existsSync(out)).toBe(false);
    expect(fs.existsSync(`${out}-run`)).toBe(false);
  });
});

/** Writes a corpus folder whose records have no `text` field, and returns it. */
function writeCorpus(root: string): string {
  const corpus = path.join(root, 'corpus');
  fs.mkdirSync(corpus, { recursive: true });
  for (const split of ['train', 'test']) fs.writeFileSync(path.join(corpus, `${split}.jsonl`), '{"body": "1 + 1 = 2"}\n');
  return corpus;
}

/** Writes a copy of the fixture whose config and tokenizer match but whose weights differ, and returns it. */
function writeOtherModel(root: string): string {
  const folder = path.join(root, 'other-model');
  fs.mkdirSync(folder, { recursive: true });
  for (const name of fs.readdirSync(fixture.dir).filter((file) => file !== 'model.safetensors')) {
    fs.copyFileSync(path.join(fixture.dir, name), path.join(folder, name));
  }
  // flipping the lowest bit of the file's last byte changes one float of the last tensor, so the weights hash differs
  const bytes = fs.readFileSync(path.join(fixture.dir, 'model.safetensors'));
  const changed = Buffer.from(bytes);
  changed[changed.length - 1] ^= 0x01;
  fs.writeFileSync(path.join(folder, 'model.safetensors'), changed);
  return folder;
}
