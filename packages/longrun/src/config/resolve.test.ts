import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { CheckpointError, InvalidInputError } from '@modularevo/core-tensor';
import { builtinCorpus, builtinTask } from '@modularevo/datasets';

import type { EvolveConfig } from './evolve-config';
import { defaultRunFolder, resolveSettings, type TaskCatalog } from './resolve';

// the GPT-Neo task names and default domains, without loading the architecture
const DOMAINS: Record<string, string> = { mathqa: 'math', scotus: 'law', code: 'github', langid: 'europarl', 'math-topic': 'math', 'license-family': 'law' };
const catalog: TaskCatalog = { name: 'gptneo', defaultDomain: (task) => DOMAINS[task], taskNames: () => Object.keys(DOMAINS) };

const MODEL = '/models/tiny';

// task paths must exist, so the named ones are empty folders here
const DATA = fs.mkdtempSync(path.join(os.tmpdir(), 'resolve-'));
const data = (name: string) => {
  const folder = path.join(DATA, name);
  fs.mkdirSync(folder, { recursive: true });
  return folder;
};
afterAll(() => fs.rmSync(DATA, { recursive: true, force: true }));

describe('resolveSettings', () => {
  it('applies the built-in profile when no task or domain is named', () => {
    const settings = resolveSettings({ model: MODEL }, catalog, new Date('2026-01-02T03:04:05Z'));

    expect(settings.tasks).toEqual([
      { name: 'math-topic', domain: 'math', source: builtinTask('math-topic').files },
      { name: 'langid', domain: 'multilingual', source: builtinTask('langid').files },
    ]);
    expect(settings.domains).toEqual([
      { name: 'math', corpus: path.dirname(builtinCorpus('math').files.train) },
      { name: 'multilingual', corpus: path.dirname(builtinCorpus('multilingual').files.train) },
    ]);
    expect(settings.merge.coefficients).toEqual([0.4, 0.7, 1]);
    expect(settings.stages).toBe(3);
    expect(settings.out).toBe(path.resolve('runs/evolve-20260102-030405'));
  });

  it('applies the paper profile to named tasks', () => {
    const settings = resolveSettings({ model: MODEL, tasks: [{ name: 'mathqa', source: data('mathqa') }], domains: [{ name: 'math', corpus: '/c/math' }] }, catalog);

    expect(settings.tasks).toEqual([{ name: 'mathqa', domain: 'math', source: path.join(DATA, 'mathqa') }]);
    expect(settings.domains).toEqual([{ name: 'math', corpus: '/c/math' }]);
    expect(settings.merge.coefficients).toEqual([0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.1, 1.2]);
    expect(settings.finetune.lr).toBe(5e-5);
  });

  it('lets flags override the profile', () => {
    const settings = resolveSettings({ model: MODEL, stages: 1, finetune: { epochs: 4 }, merge: { coefficients: [1] } }, catalog);
    expect(settings.stages).toBe(1);
    expect(settings.finetune.epochs).toBe(4);
    expect(settings.finetune.batchSize).toBe(8);
    expect(settings.merge.coefficients).toEqual([1]);
  });

  it('needs no domains without a ModularEvo strategy', () => {
    const settings = resolveSettings({ model: MODEL, strategies: ['ties'], tasks: [{ name: 'mathqa', source: data('mathqa') }] }, catalog);
    expect(settings.domains).toEqual([]);
  });

  it('takes a task domain over the default', () => {
    const config: EvolveConfig = { model: MODEL, tasks: [{ name: 'langid', domain: 'multilingual', source: data('udhr') }] };
    expect(resolveSettings(config, catalog).domains).toEqual([{ name: 'multilingual', corpus: path.dirname(builtinCorpus('multilingual').files.train) }]);
  });

  it.each<[string, EvolveConfig, RegExp]>([
    ['stages below 1', { stages: 0 }, /Invalid stages 0: use a whole number of at least 1 \(--stages\)/],
    ['an unknown task', { tasks: [{ name: 'sentiment', source: data('d') }] }, /Unknown task "sentiment" for architecture gptneo: use one of mathqa, scotus/],
    ['a task without data', { tasks: [{ name: 'mathqa' }] }, /Task "mathqa" has no data: give it as --task mathqa=PATH/],
    ['a domain without corpus', { tasks: [{ name: 'code', source: data('rosetta') }] }, /Domain "github" \(of task code\) has no corpus: give it as --domain github=PATH/],
    ['a task given twice', { tasks: [{ name: 'mathqa', source: data('a') }, { name: 'mathqa', domain: 'law', source: data('b') }] }, /task "mathqa" is given twice/],
    ['an unknown strategy', { strategies: ['modularevo', 'fisher'] }, /Unknown strategy "fisher": use one of modularevo, modularevo_relearn/],
    ['a threshold of 1', { modularize: { threshold: 1 } }, /Invalid module threshold 1/],
    ['a drop rate of 1', { merge: { drop: 1 } }, /Invalid DARE drop rate 1: it must be below 1/],
    ['an empty grid', { merge: { coefficients: [] } }, /Invalid coefficient grid \[\]/],
    ['a zero batch size', { finetune: { batchSize: 0 } }, /Invalid batch size 0/],
    ['a seed too large', { seed: 2 ** 32 }, /Invalid seed 4294967296/],
  ])('rejects %s', (_case, config, message) => {
    const resolve = () => resolveSettings({ model: MODEL, ...config }, catalog);
    expect(resolve).toThrow(InvalidInputError);
    expect(resolve).toThrow(message);
  });
});

describe('resolveSettings with a missing task path', () => {
  it('names the path before the task domain', () => {
    const missing = path.join(DATA, 'no-such-folder');
    const resolve = () => resolveSettings({ model: MODEL, tasks: [{ name: 'langid', source: missing }] }, catalog);
    expect(resolve).toThrow(CheckpointError);
    expect(resolve).toThrow(`${missing}: not found`);
  });

  it('checks every split file', () => {
    const missing = path.join(DATA, 'test.json');
    const resolve = () => resolveSettings({ model: MODEL, strategies: ['ties'], tasks: [{ name: 'mathqa', source: { train: data('mathqa'), test: missing } }] }, catalog);
    expect(resolve).toThrow(`${missing}: not found`);
  });
});

describe('defaultRunFolder', () => {
  it('stamps the UTC time', () => {
    expect(defaultRunFolder(new Date('2026-12-04T21:05:09.123Z'))).toBe(path.join('runs', 'evolve-20261204-210509'));
  });
});
