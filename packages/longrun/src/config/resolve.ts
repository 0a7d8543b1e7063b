import * as fs from 'fs';
import * as path from 'path';

import { CheckpointError, InvalidInputError, getLogger } from '@modularevo/core-tensor';
import { BUILTIN_DOMAINS, BUILTIN_TASKS, builtinCorpus, builtinModelDir, builtinTask } from '@modularevo/datasets';

import { BUILTIN_DEFAULTS, BUILTIN_RUN_TASKS, PAPER_DEFAULTS, type DefaultSettings } from './defaults';
import { mergeEvolveConfigs, type EvolveConfig, type TaskEntry } from './evolve-config';
import type { DomainSettings, EvolveSettings, TaskSettings } from './settings';
import { isModularEvo, parseStrategies } from './strategies';

const log = getLogger('longrun');

/** The facts about the architecture's tasks that resolution needs. */
export interface TaskCatalog {
  /** Architecture name, for messages. */
  name: string;
  /** Returns the default domain of `task`, or undefined when the architecture has no such task. */
  defaultDomain(task: string): string | undefined;
  /** Task names, for messages. */
  taskNames(): string[];
}

/** Returns whether `config` names no task and no domain, so the built-in defaults apply. */
export function usesBuiltinDefaults(config: EvolveConfig): boolean {
  return (config.tasks ?? []).length === 0 && (config.domains ?? []).length === 0;
}

/**
 * Applies the defaults to `config` and checks every value that can be checked without reading
 * data. The defaults are `BUILTIN_DEFAULTS` when it names no task or domain, else `PAPER_DEFAULTS`.
 *
 * @throws InvalidInputError naming the first invalid or missing value; CheckpointError when the
 *   built-in model or data is needed but missing
 */
export function resolveSettings(config: EvolveConfig, catalog: TaskCatalog, now = new Date()): EvolveSettings {
  checkUnique((config.tasks ?? []).map((task) => task.name), 'task');
  checkUnique((config.domains ?? []).map((domain) => domain.name), 'domain');
  const builtin = usesBuiltinDefaults(config);
  const defaults: DefaultSettings = builtin ? BUILTIN_DEFAULTS : PAPER_DEFAULTS;
  const merged = mergeEvolveConfigs(
    {
      arch: defaults.arch,
      stages: defaults.stages,
      seed: defaults.seed,
      strategies: [...defaults.strategies],
      modularize: defaults.modularize,
      finetune: defaults.finetune,
      data: defaults.data,
      merge: defaults.merge,
      evalBatchSize: defaults.evalBatchSize,
    },
    config,
  );

  // tasks first, because they decide which domains are needed
  const strategies = parseStrategies(merged.strategies ?? []);
  const taskEntries: TaskEntry[] = builtin ? BUILTIN_RUN_TASKS.map((name) => ({ name })) : (merged.tasks ?? []);
  const tasks = taskEntries.map((entry) => resolveTask(entry, catalog));
  const needsModules = strategies.some(isModularEvo);
  const domains = needsModules ? resolveDomains(tasks, merged) : [];

  const settings: EvolveSettings = {
    arch: merged.arch!,
    model: path.resolve(merged.model ?? builtinModel(merged.arch!)),
    out: path.resolve(merged.out ?? defaultRunFolder(now)),
    stages: merged.stages!,
    seed: merged.seed!,
    strategies,
    tasks,
    domains,
    modularize: merged.modularize as EvolveSettings['modularize'],
    finetune: merged.finetune as EvolveSettings['finetune'],
    data: merged.data as EvolveSettings['data'],
    merge: merged.merge as EvolveSettings['merge'],
    evalBatchSize: merged.evalBatchSize!,
  };
  checkSettings(settings);
  return settings;
}

function resolveTask(entry: TaskEntry, catalog: TaskCatalog): TaskSettings {
  const defaultDomain = catalog.defaultDomain(entry.name);
  if (defaultDomain === undefined) {
    throw new InvalidInputError(`Unknown task "${entry.name}" for architecture ${catalog.name}: use one of ${catalog.taskNames().join(', ')}`);
  }
  if (entry.source !== undefined) {
    checkTaskFilesExist(entry.name, entry.source);
    return { name: entry.name, domain: entry.domain ?? defaultDomain, source: entry.source };
  }

  // the built-in copy of a task, whose default domain is a built-in corpus
  if (!(BUILTIN_TASKS as readonly string[]).includes(entry.name)) {
    throw new InvalidInputError(`Task "${entry.name}" has no data: give it as --task ${entry.name}=PATH (a file or folder, or train:FILE,validation:FILE,test:FILE)`);
  }
  const builtin = builtinTask(entry.name);
  return { name: entry.name, domain: entry.domain ?? builtin.domain, source: { ...builtin.files } };
}

/** Rejects a task path that does not exist before anything else about the task is checked. */
function checkTaskFilesExist(task: string, source: TaskSettings['source']): void {
  const files = typeof source === 'string' ? [source] : Object.values(source).filter((file): file is string => typeof file === 'string');
  for (const file of files) {
    if (!fs.existsSync(file)) throw new CheckpointError(path.resolve(file), 'not found', `Check the path of task ${task} (--task ${task}=PATH)`);
  }
}

function resolveDomains(tasks: TaskSettings[], config: EvolveConfig): DomainSettings[] {
  const given = new Map((config.domains ?? []).map((entry) => [entry.name, entry.corpus]));
  const needed = [...new Set(tasks.map((task) => task.domain))];
  for (const name of given.keys()) {
    if (!needed.includes(name)) log.warn(`Domain "${name}" is not the domain of any task, so no module is learned for it`);
  }

  return needed.map((name) => {
    const corpus = given.get(name);
    if (corpus !== undefined) return { name, corpus };
    if ((BUILTIN_DOMAINS as readonly string[]).includes(name)) return { name, corpus: path.dirname(builtinCorpus(name).files.train) };

    const users = tasks.filter((task) => task.domain === name).map((task) => task.name);
    throw new InvalidInputError(
      `Domain "${name}" (of task ${users.join(', ')}) has no corpus: give it as --domain ${name}=PATH, a Pile-style JSON-lines file or a folder with train and test files`,
    );
  });
}

function builtinModel(arch: string): string {
  if (arch !== 'gptneo') throw new InvalidInputError(`No --model given: architecture ${arch} needs a base model folder (the built-in model is a GPT-Neo)`);
  const dir = builtinModelDir();
  for (const file of ['config.json', 'model.safetensors']) {
    if (!fs.existsSync(path.join(dir, file))) {
      throw new CheckpointError(dir, `the built-in tiny GPT-Neo has no ${file}`, 'Build it with nx run gptneo:pretrain-tiny, or pass a GPT-Neo folder with --model');
    }
  }
  return dir;
}

/** Returns `runs/evolve-YYYYMMDD-HHMMSS` (UTC) under the working directory. */
export function defaultRunFolder(now: Date): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return path.join('runs', `evolve-${stamp}`);
}

function checkSettings(settings: EvolveSettings): void {
  const { modularize, finetune, data, merge } = settings;
  if (settings.tasks.length === 0) throw new InvalidInputError('No tasks given: name at least one with --task NAME=PATH');
  positiveInteger(settings.stages, 'stages', '--stages');
  integerInRange(settings.seed, 0, 0xffffffff, 'seed', '--seed');
  positiveInteger(settings.evalBatchSize, 'eval batch size', '--eval-batch-size');

  if (!(modularize.threshold > 0 && modularize.threshold < 1)) {
    throw new InvalidInputError(`Invalid module threshold ${modularize.threshold}: a weight retention rate strictly between 0 and 1, for example 0.25 (--threshold)`);
  }
  positiveInteger(modularize.maxSteps, 'modularization steps', '--modularize-steps');
  positiveNumber(modularize.lr, 'modularization learning rate', '--modularize-lr');
  if (!(modularize.alpha >= 0)) throw new InvalidInputError(`Invalid alpha ${modularize.alpha}: use a number >= 0 (--alpha)`);
  positiveInteger(modularize.batchSize, 'modularization batch size', '--modularize-batch-size');
  positiveInteger(modularize.blockSize, 'block size', '--block-size');
  nonNegativeInteger(modularize.warmupSteps, 'modularization warm-up steps', '--modularize-warmup-steps');
  if (modularize.maxBlocks !== undefined) positiveInteger(modularize.maxBlocks, 'maximum blocks', '--max-blocks');
  if (modularize.maxDocuments !== undefined) positiveInteger(modularize.maxDocuments, 'maximum documents', '--max-documents');
  if (modularize.evalBlocks !== undefined) positiveInteger(modularize.evalBlocks, 'evaluation blocks', '--eval-blocks');

  positiveInteger(finetune.epochs, 'epochs', '--epochs');
  if (finetune.maxSteps !== undefined) positiveInteger(finetune.maxSteps, 'fine-tuning steps', '--max-steps');
  positiveInteger(finetune.batchSize, 'batch size', '--batch-size');
  positiveNumber(finetune.lr, 'learning rate', '--lr');
  if (!(finetune.weightDecay >= 0)) throw new InvalidInputError(`Invalid weight decay ${finetune.weightDecay}: use a number >= 0 (--weight-decay)`);
  nonNegativeInteger(finetune.warmupSteps, 'warm-up steps', '--warmup-steps');
  positiveInteger(finetune.maxLength, 'maximum length', '--max-length');
  if (finetune.evalEvery !== undefined) positiveInteger(finetune.evalEvery, 'evaluation interval', '--eval-every');
  if (finetune.patience !== undefined) positiveInteger(finetune.patience, 'patience', '--patience');

  for (const [value, what, flag] of [
    [data.trainExamples, 'train examples', '--train-examples'],
    [data.validationExamples, 'validation examples', '--validation-examples'],
    [data.testExamples, 'test examples', '--test-examples'],
  ] as const) {
    if (value !== undefined) positiveInteger(value, what, flag);
  }

  if (merge.coefficients.length === 0 || merge.coefficients.some((value) => !Number.isFinite(value))) {
    throw new InvalidInputError(`Invalid coefficient grid [${merge.coefficients.join(', ')}]: give finite numbers, for example 0.4,0.7,1.0 (--coefficients)`);
  }
  fraction(merge.trim, 'TIES trim rate', '--trim');
  fraction(merge.drop, 'DARE drop rate', '--drop');
  if (merge.drop >= 1) throw new InvalidInputError(`Invalid DARE drop rate ${merge.drop}: it must be below 1, because DARE rescales by 1 / (1 - drop) (--drop)`);
}

function checkUnique(names: string[], what: string): void {
  const seen = new Set<string>();
  for (const name of names) {
    if (seen.has(name)) throw new InvalidInputError(`The ${what} "${name}" is given twice; give each ${what} once`);
    seen.add(name);
  }
}

function positiveInteger(value: number, what: string, flag: string): void {
  if (!Number.isSafeInteger(value) || value < 1) throw new InvalidInputError(`Invalid ${what} ${value}: use a whole number of at least 1 (${flag})`);
}

function nonNegativeInteger(value: number, what: string, flag: string): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new InvalidInputError(`Invalid ${what} ${value}: use a whole number of at least 0 (${flag})`);
}

function integerInRange(value: number, low: number, high: number, what: string, flag: string): void {
  if (!Number.isSafeInteger(value) || value < low || value > high) {
    throw new InvalidInputError(`Invalid ${what} ${value}: use a whole number from ${low} to ${high} (${flag})`);
  }
}

function positiveNumber(value: number, what: string, flag: string): void {
  if (!(typeof value === 'number' && value > 0 && Number.isFinite(value))) throw new InvalidInputError(`Invalid ${what} ${value}: use a positive number (${flag})`);
}

function fraction(value: number, what: string, flag: string): void {
  if (!(typeof value === 'number' && value >= 0 && value <= 1)) throw new InvalidInputError(`Invalid ${what} ${value}: use a fraction from 0 to 1 (${flag})`);
}
