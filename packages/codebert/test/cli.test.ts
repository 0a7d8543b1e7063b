/**
 * The `modularize` and `finetune` subcommands of `modularevo` with `--arch codebert`, run the way
 * the `modularevo` program runs them, and the arguments of this package's Nx targets. A
 * ModularEvoError prints as one `error:` line with exit code 1.
 */
import * as fs from 'fs';
import * as path from 'path';

import { Command, CommanderError } from 'commander';

import { initBackend, ModularEvoError, setLogLevel } from '@modularevo/core-tensor';
import { createFinetuneCommand, createModularizeCommand, type Architecture } from '@modularevo/masking';
import { dataset, temporaryDir } from '@modularevo/test-support';

import { writeBigCloneBench } from './bigclonebench';
import { fixtureOfClass } from './fixtures';

const mlmDir = fixtureOfClass('RobertaForMaskedLM');

interface CliResult {
  exitCode: number;
  stdout: string;
  /** Lines written to stderr by the command or the error handler (logs excluded). */
  errors: string[];
}

/** Runs `modularevo <argv>` with the two workflow commands and returns what it printed. */
async function runCli(argv: string[], resolveArchitecture?: (name: string) => Architecture): Promise<CliResult> {
  const stdout: string[] = [];
  const errors: string[] = [];
  const output = { writeOut: (text: string) => stdout.push(text), writeErr: (text: string) => errors.push(text) };
  const program = new Command('modularevo').exitOverride().configureOutput(output);
  for (const command of [createModularizeCommand({ resolveArchitecture }), createFinetuneCommand({ resolveArchitecture })]) program.addCommand(command.configureOutput(output));

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
  return ['modularize', '--arch', 'codebert', '--model', mlmDir, '--domain', 'python', '--corpus', dataset('codesearchnet'),
    '--block-size', '38', '--batch-size', '2', '--no-progress', '--out', out, ...extra];
}

function finetuneArgs(task: 'clone' | 'search', data: string, out: string, extra: string[] = []): string[] {
  return ['finetune', '--arch', 'codebert', '--model', mlmDir, '--task', task, '--data', data, '--batch-size', '8', '--max-steps', '2', '--no-progress', '--out', out, ...extra];
}

let cloneData: string;
let moduleDir: string;

// Run from the repository root, Jest ignores the preset's per-project testTimeout.
jest.setTimeout(300_000);

beforeAll(async () => {
  await initBackend();
  setLogLevel('warn');
  cloneData = path.join(temporaryDir(), 'bigclonebench');
  writeBigCloneBench(cloneData, 31, { train: 16, validation: 8, test: 8 }, 3);

  const out = path.join(temporaryDir(), 'modules');
  const result = await runCli(modularizeArgs(out, ['--max-steps', '2', '--lr', '0.1', '--thresholds', '0.99']));
  if (result.exitCode !== 0) throw new Error(`modularize failed: ${result.errors.join(' | ')}`);
  moduleDir = path.join(out, 'final');
});
afterAll(() => setLogLevel('info'));

describe('modularevo modularize --arch codebert', () => {
  it('reads a CodeSearchNet language', async () => {
    const out = path.join(temporaryDir(), 'modules');
    const result = await runCli(modularizeArgs(out, ['--max-steps', '2', '--lr', '0.1', '--thresholds', '0.99']));
    expect(result).toMatchObject({ exitCode: 0, errors: [] });
    expect(result.stdout).toMatch(/^codebert python: 2 steps, final weight retention rate \d+\.\d+%$/m);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8')).corpus.trainDocuments).toBeGreaterThan(0);
  });
});

describe('modularevo finetune --arch codebert', () => {
  it.each([
    ['clone', 'module'],
    ['search', 'module'],
    ['search', 'full'],
  ] as const)('runs %s with %s fine-tuning', async (task, strategy) => {
    const out = path.join(temporaryDir(), task);
    const data = task === 'clone' ? cloneData : dataset('cosqa');
    const result = await runCli(finetuneArgs(task, data, out, strategy === 'module' ? ['--module', moduleDir] : ['--full']));
    expect(result).toMatchObject({ exitCode: 0, errors: [] });
    expect(result.stdout).toMatch(new RegExp(`^codebert ${task}: ${strategy} fine-tuning of .*, 2 steps`, 'm'));
    expect(result.stdout).toMatch(/^test +accuracy \d\.\d{4}, precision/m);
    expect(result.stdout).toMatch(/^majority class +accuracy \d\.\d{4}/m);
    if (strategy === 'module') expect(result.stdout).toMatch(/^changed weights +\d+\.\d+% of the base entries, 0 outside the module$/m);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'task.json'), 'utf8')).task).toBe(task);
  });
});

describe('bad input prints one line and exits 1', () => {
  const badCases: [string, (root: string, out: string) => string[], RegExp][] = [
    ['a pair naming an unknown idx', (root, out) => finetuneArgs('clone', writeUnknownIdx(root), out, ['--full']), /^error: .*train\.txt: line 1 names idx 999999, which is not in .*data\.jsonl/],
    ['a CoSQA record without code', (root, out) => finetuneArgs('search', writeCosqaWithoutCode(root), out, ['--full']), /^error: .*cosqa-dev\.json: line 2 has no "code" field/],
    ['a language the corpus lacks', (_root, out) => modularizeArgs(out, ['--domain', 'cobol']), /^error: The CodeSearchNet folder .* has no language "cobol"/],
    ['an unknown task', (_root, out) => finetuneArgs('clone', cloneData, out, ['--full', '--task', 'translate']), /^error: Unknown task "translate" for architecture codebert: use one of clone, search$/],
  ];

  it.each(badCases)('rejects %s', async (_case, args, message) => {
    const root = temporaryDir();
    const out = path.join(root, 'out');
    const result = await runCli(args(root, out));
    expect(result.exitCode).toBe(1);
    expect(result.errors).toHaveLength(1);
    expect(result.errors[0]).toMatch(message);
    expect(result.stdout).toBe('');
    expect(fs.existsSync(out)).toBe(false);
    expect(fs.existsSync(`${out}-run`)).toBe(false);
  });
});

describe('nx targets', () => {
  const manifest = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8'));
  const targets = manifest.nx.targets as Record<string, { options: { command: string; args: string }; configurations: Record<string, { args: string }> }>;

  it('offers every language and both tasks', () => {
    expect(Object.keys(targets.modularize.configurations).sort()).toEqual(['go', 'java', 'javascript', 'php', 'python', 'ruby']);
    expect(Object.keys(targets.finetune.configurations).sort()).toEqual(['clone', 'clone-full', 'search', 'search-full']);
  });

  const configurations = Object.entries(targets).flatMap(([target, { options, configurations }]) =>
    Object.entries({ default: { args: options.args }, ...configurations }).map(([name, { args }]) => [`${target}:${name}`, options.command, args] as const),
  );

  it.each(configurations)('passes valid flags in %s', async (_name, command, args) => {
    // everything after "npx modularevo" goes to the CLI, which stops at the architecture lookup
    const argv = [...command.split(' ').slice(2), ...args.split(' ')];
    const reached = new Error('flags parsed');
    const result = runCli(argv, () => {
      throw reached;
    });
    await expect(result).rejects.toBe(reached);
    expect(argv).toContain('codebert');
  });
});

/** Writes BigCloneBench data whose first training pair names an idx missing from data.jsonl. */
function writeUnknownIdx(root: string): string {
  const dir = path.join(root, 'bigclonebench');
  writeBigCloneBench(dir, 32, { train: 4, validation: 2, test: 2 }, 2);
  const train = path.join(dir, 'train.txt');
  const lines = fs.readFileSync(train, 'utf8').split('\n');
  lines[0] = lines[0].replace(/^\d+/, '999999');
  fs.writeFileSync(train, lines.join('\n'));
  return dir;
}

/** Writes a CoSQA file whose second record has no code. */
function writeCosqaWithoutCode(root: string): string {
  const dir = path.join(root, 'cosqa');
  fs.mkdirSync(dir);
  const records = [
    { idx: 'q-0', doc: 'sort a list', code: 'def f(x): return sorted(x)', label: 1 },
    { idx: 'q-1', doc: 'reverse a list', label: 0 },
  ];
  fs.writeFileSync(path.join(dir, 'cosqa-dev.json'), JSON.stringify(records));
  return dir;
}
