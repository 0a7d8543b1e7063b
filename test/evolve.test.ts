/**
 * End-to-end runs of `modularevo evolve` on the tiny GPT-Neo fixture with shortened budgets: the
 * artifacts of a run, the agreement of `summary.json` with `metrics.jsonl`, resuming an
 * interrupted run to the same numbers, and bad input rejected before training.
 */
import * as fs from 'fs';
import * as path from 'path';

import * as tf from '@tensorflow/tfjs-core';
import { initBackend, METRICS_FILE, ModularEvoError } from '@modularevo/core-tensor';
import {
  STRATEGY_NAMES,
  evolve,
  main,
  readRunRecords,
  readRunState,
  type EvolveConfig,
  type EvolveResult,
  type EvolveSummary,
  type RunRecord,
} from '@modularevo/longrun';
import { modelFixturesOfType, temporaryDir } from '@modularevo/test-support';

const STAGES = 2;
const TASKS = ['math-topic', 'langid'];

/** A run of two stages on the fixture model, small enough to finish in seconds. */
function shortConfig(out: string): EvolveConfig {
  return {
    model: modelFixturesOfType('gpt_neo')[0].dir,
    out,
    stages: STAGES,
    seed: 7,
    strategies: [...STRATEGY_NAMES],
    tasks: TASKS.map((name) => ({ name })),
    domains: [{ name: 'math' }, { name: 'multilingual' }],
    modularize: { threshold: 0.9, maxSteps: 6, lr: 0.05, batchSize: 2, blockSize: 32, maxBlocks: 16, maxDocuments: 6, evalBlocks: 2 },
    finetune: { epochs: 1, maxSteps: 2, batchSize: 8, lr: 1e-3, warmupSteps: 0, maxLength: 32 },
    data: { trainExamples: 32, validationExamples: 8, testExamples: 16 },
    merge: { coefficients: [0.5, 1] },
    evalBatchSize: 16,
  };
}

let dir: string;
let run: EvolveResult;
let tensorsBefore: number;
let tensorsAfter: number;

beforeAll(async () => {
  await initBackend();
  dir = temporaryDir('modularevo-evolve-');
  tensorsBefore = tf.memory().numTensors;
  run = await evolve({ config: shortConfig(path.join(dir, 'run')), progress: false });
  tensorsAfter = tf.memory().numTensors;
}, 600_000);

describe('evolve on the tiny GPT-Neo', () => {
  it('writes every artifact', () => {
    const out = path.join(dir, 'run');
    for (const file of ['config.json', 'state.json', 'metrics.jsonl', 'summary.json', 'report.md']) expect(fs.existsSync(path.join(out, file))).toBe(true);
    for (const chart of ['wrr', 'layer-retention', 'overlap', 'coefficient-grid', 'scores']) {
      expect(fs.readFileSync(path.join(out, 'charts', `${chart}.svg`), 'utf8')).toMatch(/^<svg/);
    }
    expect(readRunState(out).complete).toBe(true);

    // modules, grids and the last stage's composed models
    const steps = path.join(out, 'steps');
    expect(fs.existsSync(path.join(steps, 'stage-0/module/base/math/modules/final/module.json'))).toBe(true);
    expect(fs.existsSync(path.join(steps, 'stage-1/module/modularevo_relearn/multilingual/modules/final/module.json'))).toBe(true);
    expect(JSON.parse(fs.readFileSync(path.join(steps, 'stage-1/compose/ties/coefficient-grid.json'), 'utf8')).points).toHaveLength(4);
    for (const strategy of STRATEGY_NAMES) {
      for (const task of TASKS) expect(fs.existsSync(path.join(steps, `stage-1/compose/${strategy}/models/${task}/task.json`))).toBe(true);
    }

    // models a finished stage no longer needs are removed
    expect(fs.existsSync(path.join(steps, 'stage-0/compose/ties/models'))).toBe(false);
    expect(fs.existsSync(path.join(steps, 'stage-1/finetune/ties/full/langid/model'))).toBe(false);
  });

  it('reports a finite summary', () => {
    const numbers: number[] = [];
    collectNumbers(JSON.parse(fs.readFileSync(path.join(dir, 'run', 'summary.json'), 'utf8')), numbers);
    expect(numbers.length).toBeGreaterThan(50);
    for (const value of numbers) expect(Number.isFinite(value)).toBe(true);
    expect(run.summary.stagesFinished).toBe(STAGES);
  });

  it('agrees with metrics.jsonl', () => {
    const records = readRunRecords(path.join(dir, 'run'));
    const summary = run.summary;
    const tests = records.filter((record): record is Extract<RunRecord, { kind: 'test' }> => record.kind === 'test');
    expect(tests).toHaveLength(STAGES * STRATEGY_NAMES.length * TASKS.length);
    for (const test of tests) {
      expect(summary.scores[test.strategy][test.task][test.stage]).toBe(test.score);
      expect(JSON.parse(test.metrics).accuracy).toBe(test.score);
    }
    for (const strategy of STRATEGY_NAMES) {
      for (let stage = 0; stage < STAGES; stage++) {
        const scores = TASKS.map((task) => summary.scores[strategy][task][stage]!);
        expect(summary.meanScores[strategy][stage]).toBeCloseTo((scores[0] + scores[1]) / 2, 12);
      }
    }
    for (const merge of records.filter((record): record is Extract<RunRecord, { kind: 'merge' }> => record.kind === 'merge')) {
      expect(summary.coefficients[merge.strategy][merge.stage]).toEqual(merge.coefficients === '' ? [] : merge.coefficients.split(',').map(Number));
      expect(summary.validationMeans[merge.strategy][merge.stage]).toBe(merge.validation_mean);
    }
    const modules = records.filter((record): record is Extract<RunRecord, { kind: 'module' }> => record.kind === 'module');
    expect(summary.modules.map((module) => module.retention)).toEqual(modules.map((module) => module.retention));
  });

  it('fine-tunes a module only inside its mask', () => {
    const base = new Map(run.summary.modules.filter((module) => module.source === 'base').map((module) => [module.domain, module.baseFraction]));
    const moduleRuns = run.summary.finetunes.filter((finetune) => finetune.mode === 'module' && finetune.strategies.includes('modularevo'));
    expect(moduleRuns).toHaveLength(STAGES * TASKS.length);
    for (const finetune of moduleRuns) {
      const domain = finetune.task === 'math-topic' ? 'math' : 'multilingual';
      expect(finetune.changedFraction).toBeGreaterThan(0);
      expect(finetune.changedFraction).toBeLessThanOrEqual(base.get(domain)!);
    }
  });

  it('shares stage-0 fine-tuning between strategies of one mode', () => {
    const stage0 = run.summary.finetunes.filter((finetune) => finetune.stage === 0);
    expect(stage0).toHaveLength(2 * TASKS.length);
    for (const task of TASKS) {
      expect(run.summary.scores.modularevo[task][0]).toBe(run.summary.scores.modularevo_relearn[task][0]);
    }
  });

  it('frees the tensors of every step', () => {
    expect(tensorsAfter).toBe(tensorsBefore);
  });

  it('rebuilds the same summary with modularevo report', async () => {
    const out = path.join(dir, 'run');
    const before = fs.readFileSync(path.join(out, 'summary.json'), 'utf8');
    fs.rmSync(path.join(out, 'report.md'));
    fs.rmSync(path.join(out, 'charts'), { recursive: true });

    const printed = await runCli(['report', out]);
    expect(printed.exitCode).toBe(0);
    expect(printed.stdout).toContain(`report: ${path.join(out, 'report.md')}`);
    expect(fs.readFileSync(path.join(out, 'summary.json'), 'utf8')).toBe(before);
    expect(fs.existsSync(path.join(out, 'charts', 'scores.svg'))).toBe(true);
  }, 60_000);
});

describe('evolve --resume', () => {
  it('finishes an interrupted run with the numbers of an uninterrupted one', async () => {
    const out = path.join(dir, 'interrupted');
    const config = shortConfig(out);

    // a crash after a step's work, before the run state records it
    const stop = 'stage-1/finetune/dare/full/langid';
    const interrupted = evolve({ config, progress: false, hooks: { beforeRecord: (id) => { if (id === stop) throw new Error('simulated crash'); } } });
    await expect(interrupted).rejects.toThrow('simulated crash');
    const state = readRunState(out);
    expect(state.complete).toBe(false);
    expect(state.finished.map((step) => step.id)).not.toContain(stop);
    expect(fs.statSync(path.join(out, METRICS_FILE)).size).toBeGreaterThan(state.metricsBytes);

    const resumed = await evolve({ config: { out }, resume: true, progress: false });
    expect(comparable(resumed.summary)).toEqual(comparable(run.summary));
    expect(readRunState(out).finished.map((step) => step.id)).toEqual(readRunState(path.join(dir, 'run')).finished.map((step) => step.id));
  }, 600_000);

  it('rejects changed settings', async () => {
    await expect(evolve({ config: { out: path.join(dir, 'run'), stages: 3 }, resume: true, progress: false })).rejects.toThrow(
      /Cannot resume .*: setting stages is 2 in the run but 3 now/,
    );
  }, 60_000);
});

describe('evolve with bad input', () => {
  let data: string;
  beforeAll(() => {
    data = temporaryDir('modularevo-evolve-data-');
    const lines = (count: number, label: (index: number) => string) =>
      Array.from({ length: count }, (_, index) => JSON.stringify({ text: `example number ${index}`, label: label(index) })).join('\n');
    fs.writeFileSync(path.join(data, 'broken.jsonl'), `${lines(4, (i) => `c${i % 2}`)}\n{"text": "no closing brace"\n`);
    fs.writeFileSync(path.join(data, 'two.jsonl'), lines(12, (i) => `c${i % 2}`));
    fs.writeFileSync(path.join(data, 'one.jsonl'), lines(12, () => 'only'));
    fs.mkdirSync(path.join(data, 'short'));
    fs.writeFileSync(path.join(data, 'short', 'train.jsonl'), JSON.stringify({ text: 'a few words' }));
    fs.writeFileSync(path.join(data, 'short', 'test.jsonl'), JSON.stringify({ text: 'a few more words' }));
  });

  const task = (train: string) => `math-topic=train:${train},validation:two.jsonl,test:two.jsonl`;

  it.each([
    ['a task file that does not parse', [task('broken.jsonl')], /broken.jsonl.*line 5/],
    ['a task with one class', ['math-topic=train:one.jsonl,validation:one.jsonl,test:one.jsonl'], /1 class \(only\) in .*one\.jsonl; a classifier needs at least two/],
    ['a corpus too short for one block', [task('two.jsonl'), '--domain', 'math=short'], /Domain math \(.*short\): .*fewer than one block of 32/],
    ['stages below 1', [task('two.jsonl'), '--stages', '0'], /Invalid stages 0: use a whole number of at least 1/],
  ])('rejects %s before training', async (_case, args, message) => {
    const out = path.join(data, `run-${_case.replace(/\W+/g, '-')}`);
    const printed = await runCli(['evolve', '--model', modelFixturesOfType('gpt_neo')[0].dir, '--out', out, '--block-size', '32', '--max-length', '32', '--no-progress', '--task', ...args], data);

    expect(printed.exitCode).toBe(1);
    expect(printed.stderr).toMatch(message);
    expect(printed.stderr.trim().split('\n')).toHaveLength(1);
    expect(fs.existsSync(out)).toBe(false);
  }, 120_000);

  it('rejects a run folder in use without --resume', async () => {
    await expect(evolve({ config: { ...shortConfig(path.join(dir, 'run')) }, progress: false })).rejects.toThrow(ModularEvoError);
    await expect(evolve({ config: { ...shortConfig(path.join(dir, 'run')) }, progress: false })).rejects.toThrow(/already exists and is not empty; continue it with --resume/);
  }, 60_000);
});

/** Runs the `modularevo` CLI in this process from `cwd` and returns its exit code and what it printed. */
async function runCli(args: string[], cwd = process.cwd()): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const writeOut = jest.spyOn(process.stdout, 'write').mockImplementation((text) => {
    stdout.push(String(text));
    return true;
  });
  const writeErr = jest.spyOn(process.stderr, 'write').mockImplementation((text) => {
    // the loggers write to stderr too; keep only the error line the CLI prints
    if (String(text).startsWith('error:')) stderr.push(String(text));
    return true;
  });
  const previousCwd = process.cwd();
  const previousExitCode = process.exitCode;
  process.exitCode = 0;
  process.chdir(cwd);
  try {
    await main(['node', 'modularevo', ...args]);
    return { exitCode: Number(process.exitCode ?? 0), stdout: stdout.join(''), stderr: stderr.join('') };
  } finally {
    process.chdir(previousCwd);
    process.exitCode = previousExitCode;
    writeOut.mockRestore();
    writeErr.mockRestore();
  }
}

/** Returns the summary without the run time and model path, which differ between runs. */
function comparable(summary: EvolveSummary): Omit<EvolveSummary, 'runSeconds' | 'model'> {
  const { runSeconds: _seconds, model: _model, ...rest } = summary;
  return rest;
}

function collectNumbers(value: unknown, out: number[]): void {
  if (typeof value === 'number') out.push(value);
  else if (Array.isArray(value)) value.forEach((entry) => collectNumbers(entry, out));
  else if (value && typeof value === 'object') Object.values(value).forEach((entry) => collectNumbers(entry, out));
}
