import * as fs from 'fs';
import * as path from 'path';

import { initBackend, loadSafetensors, ModularEvoError } from '@modularevo/core-tensor';
import { describeBaseModel, saveModule } from '@modularevo/masking';
import { temporaryDir } from '@modularevo/test-support';

import { randomModule } from '../testing/architectures';
import { fakeArchitecture, writeFakeData, writeFakeModel } from '../testing/fake-architecture';
import { createCostCommand } from './command';

const LAYERS = [{ name: 'body.dense', weight: 'body.dense.weight', bias: 'body.dense.bias', inFeatures: 12, outFeatures: 40 }];

let dir: string;

/** Writes a module over the fake model in `modelDir` that keeps a fraction `keep` of the entries. */
async function writeModule(moduleDir: string, modelDir: string, keep: number): Promise<void> {
  const identity = describeBaseModel(JSON.parse(fs.readFileSync(path.join(modelDir, 'config.json'), 'utf8')), loadSafetensors(path.join(modelDir, 'model.safetensors')));
  await saveModule(moduleDir, randomModule(LAYERS, keep, 5, { config: identity.config, weightsSha256: identity.weightsSha256 }));
}

/** Runs `modularevo cost` with the fake architecture and returns what it printed. */
async function runCost(args: string[]): Promise<string> {
  const printed: string[] = [];
  const command = createCostCommand({ resolveArchitecture: () => fakeArchitecture }).configureOutput({ writeOut: (text) => printed.push(text) });
  await command.parseAsync(args, { from: 'user' });
  return printed.join('');
}

function argsFor(moduleDir: string, out: string, modelDir = path.join(dir, 'model')): string[] {
  return ['--arch', 'fake', '--model', modelDir, '--module', moduleDir, '--task', 'fake', '--data', path.join(dir, 'data.json'),
    '--batch-size', '4', '--repeats', '3', '--warmup', '1', '--max-examples', '10', '--out', out];
}

beforeAll(async () => {
  await initBackend();
  dir = temporaryDir('modularevo-cost-');
  writeFakeModel(path.join(dir, 'model'), 1);
  writeFakeModel(path.join(dir, 'other-model'), 2);
  writeFakeData(path.join(dir, 'data.json'), 10, 3);
  await writeModule(path.join(dir, 'module'), path.join(dir, 'model'), 0.25);
  await writeModule(path.join(dir, 'empty-module'), path.join(dir, 'model'), 0);
});

describe('modularevo cost', () => {
  it('times both paths and writes the report', async () => {
    const out = path.join(dir, 'cost.json');
    const printed = await runCost(argsFor(path.join(dir, 'module'), out));
    const report = JSON.parse(fs.readFileSync(out, 'utf8'));

    expect(printed).toMatch(/fake fake: base with a fresh head model, module "test", 10 test examples in 3 batches/);
    expect(printed).toMatch(/speed-up\s+\d+\.\d+x/);
    expect(report.model.kind).toBe('base with a fresh head');
    expect(report.baseCheck).toBe('weights SHA-256');
    expect(report.timing.dense.repeatsMsPerBatch).toHaveLength(3);
    expect(report.timing.sparse.repeatsMsPerBatch).toHaveLength(3);
    expect(report.timing.speedup).toBeCloseTo(report.timing.dense.medianMsPerBatch / report.timing.sparse.medianMsPerBatch, 10);
    expect(report.retainedFraction).toBeGreaterThan(0.15);
    expect(report.retainedFraction).toBeLessThan(0.35);
    expect(report.retainedFractionRun).toBe(report.retainedFraction);
    expect(report.kernelCheck.linearCalls).toBe(2);
    expect(report.kernelCheck.maxAbsDiff).toBeLessThan(1e-4);
    expect(report.predictions).toMatchObject({ compared: 10, method: 'argmax of the head', differingFromDenseMasked: 0 });
    expect(report.predictions.differingFromDense).toBeGreaterThanOrEqual(0);
    expect(printed).toMatch(/predictions\s+sparse vs dense masked 10 of 10 agree, sparse vs dense \d+ of 10 agree/);
    expect(report.metrics.dense.accuracy).toBeGreaterThanOrEqual(0);
    expect(report.metrics.sparse.accuracy).toBeGreaterThanOrEqual(0);
    expect(report.sparsity.module.overall.total).toBe(12 * 40 + 40);
    expect(report.kernels.sparse.kernel).toMatch(/native|typescript/);
  });

  it.each([
    ['a module of another base model', 'module', 'other-model', /was learned on a base model with weights SHA-256 [0-9a-f]{64}, but the given base model has/],
    ['a module with 0% retention', 'empty-module', 'model', /keeps 0 of 480 masked weights \(0% retention\)/],
  ])('rejects %s and writes nothing', async (_case, moduleName, modelName, message) => {
    const out = path.join(dir, `${moduleName}-${modelName}.json`);
    const run = runCost(argsFor(path.join(dir, moduleName), out, path.join(dir, modelName)));

    await expect(run).rejects.toThrow(ModularEvoError);
    await expect(run).rejects.toThrow(message);
    expect(fs.existsSync(out)).toBe(false);
  });

  it('resolves --arch through loadArchitecture', async () => {
    const out = path.join(dir, 'unknown-arch.json');
    const args = argsFor(path.join(dir, 'module'), out);
    args[args.indexOf('--arch') + 1] = 'no-such-architecture';
    const run = createCostCommand().configureOutput({ writeOut: () => undefined }).parseAsync(args, { from: 'user' });

    await expect(run).rejects.toThrow(ModularEvoError);
    await expect(run).rejects.toThrow(/Unknown architecture "no-such-architecture": package @modularevo\/no-such-architecture is not installed/);
    expect(fs.existsSync(out)).toBe(false);
  });

  it('rejects an invalid repeat count', async () => {
    const args = argsFor(path.join(dir, 'module'), path.join(dir, 'unused.json'));
    args[args.indexOf('--repeats') + 1] = '0';
    await expect(runCost(args)).rejects.toThrow(/Invalid --repeats 0: use a whole number of at least 1/);
  });
});
