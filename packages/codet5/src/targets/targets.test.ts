import * as fs from 'fs';
import * as path from 'path';

import { InvalidInputError, initBackend } from '@modularevo/core-tensor';
import { loadModule } from '@modularevo/masking';
import { dataset, modelFixturesOfType, temporaryDir } from '@modularevo/test-support';

import { codeT5BaseModel } from '../module-base';
import { CodeT5PretrainedModel } from '../pretrained-model';
import { main } from './cli';
import { runFinetune } from './finetune';
import { runModularize } from './modularize';

const [fixture] = modelFixturesOfType('t5');

beforeAll(async () => {
  await initBackend();
});

describe('codet5 workflows', () => {
  const runs = temporaryDir();
  const moduleRun = path.join(runs, 'modularize-python');

  it('modularize writes snapshots and a final module', async () => {
    const summary = await runModularize({
      model: fixture.dir,
      data: dataset('codesearchnet'),
      domain: 'python',
      output: moduleRun,
      blockSize: 64,
      batchSize: 4,
      lr: 0.05,
      alpha: 1,
      maxSteps: 8,
      thresholds: [0.999],
      progress: false,
    });

    expect(summary.steps).toBe(8);
    expect(summary.finalRetentionRate).toBeLessThan(0.999);
    expect(Object.keys(summary.modules).sort()).toEqual(['final', 'wrr_0.999']);
    for (const name of ['config.json', 'metrics.jsonl', 'summary.json']) expect(fs.existsSync(path.join(moduleRun, name))).toBe(true);

    // the module belongs to the fixture model and masks the LM head too
    const base = CodeT5PretrainedModel.load(fixture.dir);
    try {
      const module = loadModule(summary.modules.final, { base: codeT5BaseModel(base) });
      expect(module.domain).toBe('python');
      expect(module.masks.has('lm_head.weight')).toBe(true);
      expect(module.weightRetentionRate).toBeCloseTo(summary.finalRetentionRate, 6);
    } finally {
      base.dispose();
    }
  });

  it('finetune guided by the module writes the model and predictions', async () => {
    const output = path.join(runs, 'finetune-summarize');
    const summary = await runFinetune({
      task: 'summarize',
      model: fixture.dir,
      data: dataset('code_to_text', 'python'),
      module: path.join(moduleRun, 'final'),
      output,
      maxSourceLength: 48,
      maxTargetLength: 16,
      epochs: 2,
      lr: 1e-2,
      progress: false,
    });

    expect(summary.maskGuided).toBe(true);
    expect(summary.training.steps).toBe(2);
    expect(Object.keys(summary.validation!).sort()).toEqual(['exact-match', 'smooth-bleu']);
    expect(Object.keys(summary.test!).sort()).toEqual(['exact-match', 'smooth-bleu']);
    for (const file of ['validation.output', 'validation.gold', 'test.output', 'test.gold']) {
      expect(fs.readFileSync(path.join(output, 'predictions', file), 'utf8').split('\n')).toHaveLength(2);
    }
    expect(JSON.parse(fs.readFileSync(path.join(summary.modelDir, 'task.json'), 'utf8')).task).toBe('summarize');
  });

  it.each([
    ['an unknown task', { task: 'translate' }, 'Unknown task "translate"'],
    ['a missing model', { model: '/nonexistent-model' }, 'missing config.json'],
    ['beam size 0', { numBeams: 0 }, 'numBeams must be a positive integer'],
  ])('finetune rejects %s before writing', async (_case, change, message) => {
    const output = path.join(runs, `bad-${Math.random().toString(36).slice(2)}`);
    const run = runFinetune({ task: 'concode', model: fixture.dir, data: dataset('concode'), output, progress: false, ...change });
    await expect(run).rejects.toThrow(message);
    expect(fs.existsSync(output)).toBe(false);
  });

  it('modularize rejects an invalid threshold', async () => {
    const run = runModularize({ model: fixture.dir, data: dataset('codesearchnet'), domain: 'go', output: path.join(runs, 'bad'), thresholds: [1.5] });
    await expect(run).rejects.toThrow(InvalidInputError);
  });
});

describe('codet5 command', () => {
  let stderr: jest.SpyInstance;

  beforeEach(() => {
    stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    process.exitCode = undefined;
  });
  afterEach(() => {
    stderr.mockRestore();
    process.exitCode = undefined;
  });

  it('prints bad input as one line and exits 1', async () => {
    await main(['node', 'codet5', 'finetune', '--task', 'concode', '--model', fixture.dir, '--data', dataset('concode'), '--num-beams', '0', '--output', path.join(temporaryDir(), 'run')]);
    expect(process.exitCode).toBe(1);
    const lines = stderr.mock.calls.map((call) => String(call[0])).filter((text) => text.startsWith('error:'));
    expect(lines).toEqual(['error: numBeams must be a positive integer (1 for greedy search), not 0\n']);
  });

  it('rejects a missing required option', async () => {
    await main(['node', 'codet5', 'modularize', '--model', fixture.dir]);
    expect(process.exitCode).toBe(1);
    expect(stderr.mock.calls.map((call) => String(call[0])).join('')).toContain("required option '--data <dir>' not specified");
  });
});
