/**
 * The configuration file of `modularevo evolve` (YAML, or JSON for a `.json` name). Keys are the
 * CLI's option names with underscores, grouped in sections; relative paths are taken relative to
 * the working directory, as merge recipes do.
 *
 * ```yaml
 * arch: gptneo
 * model: ./gpt-neo-125m
 * out: runs/paper
 * stages: 3
 * seed: 42
 * strategies: [modularevo, task_arithmetic, ties, dare, average]
 * tasks:
 *   mathqa:
 *     domain: math
 *     splits: { train: mathqa/dev.json, validation: mathqa/challenge_test.json, test: mathqa/test.json }
 *   langid:
 *     domain: europarl
 *     data: ./udhr
 * domains:
 *   math: ./dm_mathematics       # a JSON-lines file, or a folder with train and test files
 *   europarl: ./europarl
 * modularize: { threshold: 0.25, max_steps: 2000, lr: 0.005, alpha: 1, batch_size: 8, block_size: 512 }
 * finetune: { epochs: 2, batch_size: 8, lr: 5.0e-5, max_length: 512, patience: 3 }
 * data: { validation_examples: 500 }
 * merge: { coefficients: { start: 0.4, stop: 1.2, step: 0.1 }, trim: 0.75, drop: 0.75 }
 * eval_batch_size: 16
 * ```
 */
import * as fs from 'fs';
import * as path from 'path';

import { InvalidInputError } from '@modularevo/core-tensor';
import { SPLIT_NAMES, type SplitFiles, type SplitName } from '@modularevo/datasets';
import { coefficientRange } from '@modularevo/merging';
import { parse as parseYaml } from 'yaml';

import type { DomainEntry, EvolveConfig, TaskEntry } from './evolve-config';
import type { EvolveSettings } from './settings';

type FieldKind = 'integer' | 'number' | 'string';

// file key -> [field name, kind], per section
const TOP_FIELDS: Record<string, [keyof EvolveConfig, FieldKind]> = {
  arch: ['arch', 'string'],
  model: ['model', 'string'],
  out: ['out', 'string'],
  stages: ['stages', 'integer'],
  seed: ['seed', 'integer'],
  eval_batch_size: ['evalBatchSize', 'integer'],
};
const SECTION_FIELDS: Record<'modularize' | 'finetune' | 'data' | 'merge', Record<string, [string, FieldKind]>> = {
  modularize: {
    threshold: ['threshold', 'number'],
    max_steps: ['maxSteps', 'integer'],
    lr: ['lr', 'number'],
    alpha: ['alpha', 'number'],
    batch_size: ['batchSize', 'integer'],
    block_size: ['blockSize', 'integer'],
    warmup_steps: ['warmupSteps', 'integer'],
    max_blocks: ['maxBlocks', 'integer'],
    max_documents: ['maxDocuments', 'integer'],
    eval_blocks: ['evalBlocks', 'integer'],
  },
  finetune: {
    epochs: ['epochs', 'integer'],
    max_steps: ['maxSteps', 'integer'],
    batch_size: ['batchSize', 'integer'],
    lr: ['lr', 'number'],
    weight_decay: ['weightDecay', 'number'],
    warmup_steps: ['warmupSteps', 'integer'],
    max_length: ['maxLength', 'integer'],
    eval_every: ['evalEvery', 'integer'],
    patience: ['patience', 'integer'],
  },
  data: {
    train_examples: ['trainExamples', 'integer'],
    validation_examples: ['validationExamples', 'integer'],
    test_examples: ['testExamples', 'integer'],
  },
  merge: { trim: ['trim', 'number'], drop: ['drop', 'number'] },
};
const SPECIAL_KEYS = ['strategies', 'tasks', 'domains', 'modularize', 'finetune', 'data', 'merge'];

/**
 * Reads a configuration file into an `EvolveConfig`.
 *
 * @throws InvalidInputError when the file cannot be read or parsed, or names an unknown key or an
 *   invalid value (the message names the file and key)
 */
export function readConfigFile(file: string): EvolveConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new InvalidInputError(`Cannot read configuration file ${file}: ${(error as Error).message}`);
  }

  let document: unknown;
  const json = file.endsWith('.json');
  try {
    document = json ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new InvalidInputError(`Configuration file ${file} is not valid ${json ? 'JSON' : 'YAML'}: ${(error as Error).message}`);
  }
  return parseConfigDocument(document, file);
}

/** Converts a parsed configuration document into an `EvolveConfig`; `file` names it in errors. */
export function parseConfigDocument(document: unknown, file: string): EvolveConfig {
  const top = objectAt(document, file, 'the configuration');
  checkKeys(top, [...Object.keys(TOP_FIELDS), ...SPECIAL_KEYS], file, 'the configuration');

  // scalars
  const config: EvolveConfig = {};
  for (const [key, [field, kind]] of Object.entries(TOP_FIELDS)) {
    if (top[key] !== undefined && top[key] !== null) (config as Record<string, unknown>)[field] = valueOf(top[key], kind, file, key);
  }

  // lists and mappings
  if (top.strategies !== undefined) config.strategies = stringList(top.strategies, file, 'strategies');
  if (top.tasks !== undefined) config.tasks = parseTasks(top.tasks, file);
  if (top.domains !== undefined) config.domains = parseDomains(top.domains, file);

  // sections
  for (const section of ['modularize', 'finetune', 'data', 'merge'] as const) {
    if (top[section] === undefined || top[section] === null) continue;
    const entries = objectAt(top[section], file, section);
    const fields = SECTION_FIELDS[section];
    checkKeys(entries, section === 'merge' ? [...Object.keys(fields), 'coefficients'] : Object.keys(fields), file, section);
    const parsed: Record<string, unknown> = {};
    for (const [key, [field, kind]] of Object.entries(fields)) {
      if (entries[key] !== undefined && entries[key] !== null) parsed[field] = valueOf(entries[key], kind, file, `${section}.${key}`);
    }
    if (section === 'merge' && entries.coefficients !== undefined) parsed.coefficients = parseCoefficients(entries.coefficients, file);
    config[section] = parsed as never;
  }
  return config;
}

/** Returns the configuration-file document of resolved settings, so `--config <run>/config.json` repeats the run. */
export function configDocument(settings: EvolveSettings): Record<string, unknown> {
  const section = (name: keyof typeof SECTION_FIELDS, values: object) =>
    Object.fromEntries(
      Object.entries(SECTION_FIELDS[name])
        .map(([key, [field]]) => [key, (values as Record<string, unknown>)[field]])
        .filter(([, value]) => value !== undefined),
    );
  return {
    arch: settings.arch,
    model: settings.model,
    out: settings.out,
    stages: settings.stages,
    seed: settings.seed,
    strategies: settings.strategies,
    tasks: Object.fromEntries(
      settings.tasks.map((task) => [
        task.name,
        typeof task.source === 'string' ? { domain: task.domain, data: task.source } : { domain: task.domain, splits: task.source },
      ]),
    ),
    domains: Object.fromEntries(settings.domains.map((domain) => [domain.name, domain.corpus])),
    modularize: section('modularize', settings.modularize),
    finetune: section('finetune', settings.finetune),
    data: section('data', settings.data),
    merge: { ...section('merge', settings.merge), coefficients: settings.merge.coefficients },
    eval_batch_size: settings.evalBatchSize,
  };
}

function parseTasks(value: unknown, file: string): TaskEntry[] {
  const tasks = objectAt(value, file, 'tasks');
  return Object.entries(tasks).map(([name, entry]) => {
    if (entry === null || entry === undefined) return { name };
    if (typeof entry === 'string') return { name, source: absolute(entry) };

    const fields = objectAt(entry, file, `tasks.${name}`);
    checkKeys(fields, ['domain', 'data', 'splits'], file, `tasks.${name}`);
    if (fields.data !== undefined && fields.splits !== undefined) {
      throw new InvalidInputError(`${file}: tasks.${name} has both "data" and "splits"; give the data folder or the file of each split, not both`);
    }
    const task: TaskEntry = { name };
    if (fields.domain !== undefined) task.domain = valueOf(fields.domain, 'string', file, `tasks.${name}.domain`) as string;
    if (fields.data !== undefined) task.source = absolute(valueOf(fields.data, 'string', file, `tasks.${name}.data`) as string);
    if (fields.splits !== undefined) task.source = parseSplits(fields.splits, file, `tasks.${name}.splits`);
    return task;
  });
}

function parseSplits(value: unknown, file: string, key: string): SplitFiles {
  const entries = objectAt(value, file, key);
  checkKeys(entries, SPLIT_NAMES, file, key);
  const splits: SplitFiles = {};
  for (const [split, path] of Object.entries(entries)) splits[split as SplitName] = absolute(valueOf(path, 'string', file, `${key}.${split}`) as string);
  return splits;
}

function parseDomains(value: unknown, file: string): DomainEntry[] {
  const domains = objectAt(value, file, 'domains');
  return Object.entries(domains).map(([name, corpus]) =>
    corpus === null || corpus === undefined ? { name } : { name, corpus: absolute(valueOf(corpus, 'string', file, `domains.${name}`) as string) },
  );
}

function parseCoefficients(value: unknown, file: string): number[] {
  if (Array.isArray(value)) return value.map((entry, index) => valueOf(entry, 'number', file, `merge.coefficients[${index}]`) as number);

  const range = objectAt(value, file, 'merge.coefficients');
  checkKeys(range, ['start', 'stop', 'step'], file, 'merge.coefficients');
  const [start, stop, step] = (['start', 'stop', 'step'] as const).map((key) => valueOf(range[key], 'number', file, `merge.coefficients.${key}`) as number);
  return coefficientRange(start, stop, step);
}

function stringList(value: unknown, file: string, key: string): string[] {
  if (typeof value === 'string') return value.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '');
  if (!Array.isArray(value)) throw new InvalidInputError(`${file}: ${key} must be a list of names`);
  return value.map((entry, index) => valueOf(entry, 'string', file, `${key}[${index}]`) as string);
}

function valueOf(value: unknown, kind: FieldKind, file: string, key: string): string | number {
  if (kind === 'string') {
    if (typeof value !== 'string' || value === '') throw new InvalidInputError(`${file}: ${key} must be a non-empty string, not ${JSON.stringify(value)}`);
    return value;
  }
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new InvalidInputError(`${file}: ${key} must be a number, not ${JSON.stringify(value)}`);
  if (kind === 'integer' && !Number.isSafeInteger(value)) throw new InvalidInputError(`${file}: ${key} must be a whole number, not ${value}`);
  return value;
}

function objectAt(value: unknown, file: string, key: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidInputError(`${file}: ${key} must be a mapping of keys to values`);
  }
  return value as Record<string, unknown>;
}

function checkKeys(object: Record<string, unknown>, allowed: readonly string[], file: string, where: string): void {
  for (const key of Object.keys(object)) {
    if (!allowed.includes(key)) throw new InvalidInputError(`${file}: unknown key "${key}" in ${where}; use one of ${allowed.join(', ')}`);
  }
}

function absolute(file: string): string {
  return path.resolve(file);
}
