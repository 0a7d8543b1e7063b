import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { CheckpointError, InvalidInputError } from '@modularevo/core-tensor';

import { iterateCorpusTexts } from '../corpora';
import {
  BUILTIN_DATA_ENV,
  BUILTIN_DOMAIN_INFO,
  BUILTIN_DOMAINS,
  BUILTIN_TASK_INFO,
  BUILTIN_TASKS,
  builtinCorpus,
  builtinDataDir,
  builtinTask,
  readBuiltinManifest,
  readBuiltinTask,
} from '.';

const SPLITS = ['train', 'validation', 'test'] as const;

/** Smallest class sizes the evolution run relies on: three training shards, and a score per class. */
const MIN_PER_CLASS = { train: 24, validation: 3, test: 5 };

function readLines(file: string): Record<string, unknown>[] {
  const text = fs.readFileSync(file, 'utf8');
  expect(text.endsWith('\n')).toBe(true);
  return text.slice(0, -1).split('\n').map((line) => JSON.parse(line));
}

function sha256(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

const corpusTexts = new Map(BUILTIN_DOMAINS.map((domain) => {
  const corpus = builtinCorpus(domain);
  return [domain, [...readLines(corpus.files.train), ...readLines(corpus.files.test)].map((r) => r.text as string)];
}));
const allCorpusText = [...corpusTexts.values()].flat().join('\u0000');

describe('built-in corpora', () => {
  it.each(BUILTIN_DOMAINS)('%s has Pile-style records matching the manifest', (domain) => {
    const corpus = builtinCorpus(domain);
    const manifest = readBuiltinManifest().corpora[domain];
    for (const split of ['train', 'test'] as const) {
      const records = readLines(corpus.files[split]);
      expect(records.length).toBe(corpus.documents[split]);
      expect(sha256(corpus.files[split])).toBe(manifest.splits[split].sha256);
      for (const record of records) {
        expect(typeof record.text).toBe('string');
        expect((record.text as string).length).toBeGreaterThan(0);
        expect((record.meta as Record<string, unknown>).pile_set_name).toBe(BUILTIN_DOMAIN_INFO[domain].pileSetName);
      }
    }
    expect(corpus.documents.test).toBeGreaterThan(0);
  });

  it.each(BUILTIN_DOMAINS)('%s keeps train and test apart', (domain) => {
    const corpus = builtinCorpus(domain);
    const train = new Set(readLines(corpus.files.train).map((r) => r.text));
    const overlap = readLines(corpus.files.test).filter((r) => train.has(r.text));
    expect(overlap).toEqual([]);
  });

  it.each(BUILTIN_DOMAINS)('%s stays within its size budget', (domain) => {
    const bytes = fs.statSync(builtinCorpus(domain).files.train).size + fs.statSync(builtinCorpus(domain).files.test).size;
    expect(bytes).toBeGreaterThan(300_000);
    expect(bytes).toBeLessThan(1_100_000);
  });

  it('reads through the corpus reader', async () => {
    const corpus = builtinCorpus('math');
    const texts: string[] = [];
    for await (const text of iterateCorpusTexts(path.dirname(corpus.files.test), { split: 'test' })) texts.push(text);
    expect(texts.length).toBe(corpus.documents.test);
  });
});

describe('built-in tasks', () => {
  it.each(BUILTIN_TASKS)('%s has text and label records matching the manifest', (task) => {
    const files = builtinTask(task);
    const manifest = readBuiltinManifest().tasks[task];
    for (const split of SPLITS) {
      const records = readLines(files.files[split]);
      expect(records.length).toBe(files.examples[split]);
      expect(sha256(files.files[split])).toBe(manifest.splits[split].sha256);
      for (const record of records) {
        expect(Object.keys(record).sort()).toEqual(['label', 'text']);
        expect(typeof record.text).toBe('string');
        expect(typeof record.label).toBe('string');
      }
    }
  });

  it.each(BUILTIN_TASKS)('%s has one label set and enough of each class', (task) => {
    const files = builtinTask(task);
    expect(files.labels.length).toBeGreaterThanOrEqual(4);
    for (const split of SPLITS) {
      const counts: Record<string, number> = {};
      for (const record of readLines(files.files[split])) counts[record.label as string] = (counts[record.label as string] ?? 0) + 1;
      expect(Object.keys(counts).sort()).toEqual(files.labels);
      expect(counts).toEqual(files.labelCounts[split]);
      for (const label of files.labels) expect(counts[label]).toBeGreaterThanOrEqual(MIN_PER_CLASS[split]);
    }
  });

  it.each(BUILTIN_TASKS)('%s keeps its splits disjoint', (task) => {
    const files = builtinTask(task);
    const seen = new Map<string, string>();
    const repeated: string[] = [];
    for (const split of SPLITS) {
      for (const record of readLines(files.files[split])) {
        const text = record.text as string;
        if (seen.has(text)) repeated.push(`${seen.get(text)} and ${split}: ${text.slice(0, 60)}`);
        seen.set(text, split);
      }
    }
    expect(repeated).toEqual([]);
  });

  it.each(BUILTIN_TASKS)('%s shares no text with any corpus', (task) => {
    const files = builtinTask(task);
    const inside = SPLITS.flatMap((split) => readLines(files.files[split]).map((r) => r.text as string)).filter((text) => allCorpusText.includes(text));
    expect(inside).toEqual([]);
  });

  it.each(BUILTIN_TASKS)('%s reads with label ids', async (task) => {
    const data = await readBuiltinTask(task);
    for (const split of SPLITS) {
      expect(data.splits[split].length).toBe(data.task.examples[split]);
      const first = readLines(data.task.files[split])[0];
      expect(data.splits[split][0].text).toBe(first.text);
      expect(data.labels[data.splits[split][0].label]).toBe(first.label);
    }
  });

  it('names the default domain of each task', () => {
    expect(Object.fromEntries(BUILTIN_TASKS.map((task) => [task, BUILTIN_TASK_INFO[task].domain]))).toEqual({
      'math-topic': 'math',
      'license-family': 'law',
      langid: 'multilingual',
      'code-language': 'code',
    });
    for (const task of BUILTIN_TASKS) expect(builtinTask(task).domain).toBe(readBuiltinManifest().tasks[task].domain);
  });
});

describe('builtinDataDir', () => {
  const saved = process.env[BUILTIN_DATA_ENV];
  afterEach(() => {
    if (saved === undefined) delete process.env[BUILTIN_DATA_ENV];
    else process.env[BUILTIN_DATA_ENV] = saved;
  });

  it('finds the repository data from the source tree', () => {
    delete process.env[BUILTIN_DATA_ENV];
    expect(builtinDataDir()).toBe(path.resolve(__dirname, '../../../../datasets/builtin'));
  });

  it('follows the environment variable', () => {
    const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'builtin-'));
    fs.copyFileSync(path.join(builtinDataDir(), 'manifest.json'), path.join(copy, 'manifest.json'));
    process.env[BUILTIN_DATA_ENV] = copy;
    expect(builtinDataDir()).toBe(copy);
    fs.rmSync(copy, { recursive: true });
  });

  it('rejects a folder without data', () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'builtin-'));
    process.env[BUILTIN_DATA_ENV] = empty;
    expect(() => builtinDataDir()).toThrow(CheckpointError);
    expect(() => builtinDataDir()).toThrow(/MODULAREVO_BUILTIN_DATA/);
    fs.rmSync(empty, { recursive: true });
  });

  it('rejects unknown names', () => {
    expect(() => builtinCorpus('europarl')).toThrow(InvalidInputError);
    expect(() => builtinTask('mathqa')).toThrow(/Unknown built-in task "mathqa"/);
  });
});
