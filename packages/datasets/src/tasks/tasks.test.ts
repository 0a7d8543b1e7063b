import * as fs from 'fs';
import * as path from 'path';

import { CheckpointError, InvalidInputError, MismatchError } from '@modularevo/core-tensor';
import { dataset, temporaryDir } from '@modularevo/test-support';

import { writeJsonLines, writeParquet } from '../testing/files';
import { readBigCloneBench } from './clone';
import { readRosettaCode, rosettaTaskOf } from './code';
import { readCodeToText, readConcode } from './generation';
import { parseNordicDslLine, readLangId } from './langid';
import { readMathQA } from './mathqa';
import { getTask, readTask, TASKS } from './registry';
import { hashFraction } from './splits';
import { readScotus, SCOTUS_LABELS } from './scotus';
import { readCoSQA } from './search';
import { SPLIT_NAMES, type SplitName } from './types';

async function caught(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the promise to reject');
}

function readJson(file: string): any {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

function readJsonLinesFile(file: string): any[] {
  return fs.readFileSync(file, 'utf8').split('\n').filter((line) => line.trim()).map((line) => JSON.parse(line));
}

describe('task definitions', () => {
  it.each(Object.values(TASKS).map((task) => [task.name, task]))('%s is complete', (_name, task) => {
    expect(task.metrics).toContain(task.primaryMetric);
    expect(task.splits.length).toBeGreaterThan(0);
    expect(['classification', 'pair-classification', 'retrieval', 'generation']).toContain(task.kind);
    if (task.labels) expect(task.labels.length).toBeGreaterThanOrEqual(2);
  });

  it('rejects an unknown task name', () => {
    expect(() => getTask('sentiment')).toThrow(/Unknown task "sentiment": use one of mathqa/);
  });
});

describe('MathQA', () => {
  const files = { validation: dataset('mathqa', 'dev.json'), test: dataset('mathqa', 'test.json'), train: dataset('mathqa', 'challenge_test.json') };

  it('reads every record with sorted categories as labels', async () => {
    const data = await readMathQA(files);
    const categories = new Set<string>();
    for (const file of Object.values(files)) for (const record of readJson(file)) categories.add(record.category);

    expect(data.labels).toEqual([...categories].sort());
    for (const [split, file] of Object.entries(files) as [SplitName, string][]) {
      const records = readJson(file);
      const examples = data.splits[split]!;
      expect(examples).toHaveLength(records.length);
      examples.forEach((example, i) => {
        expect(example.text).toBe(records[i].Problem);
        expect(data.labels[example.label]).toBe(records[i].category);
      });
    }
  });

  it('reads the Hub Parquet columns question and topic', async () => {
    const records = readJson(dataset('mathqa', 'test.json')).slice(0, 30);
    const file = path.join(temporaryDir(), 'test-00000-of-00001.parquet');
    writeParquet(file, [
      { name: 'question', data: records.map((r: any) => r.Problem), type: 'STRING' },
      { name: 'topic', data: records.map((r: any) => r.category), type: 'STRING' },
    ]);

    const data = await readMathQA({ test: file });
    expect(data.splits.test!.map((e) => e.text)).toEqual(records.map((r: any) => r.Problem));
    expect(data.splits.test!.map((e) => data.labels[e.label])).toEqual(records.map((r: any) => r.category));
  });

  it('finds the release files in a folder', async () => {
    const data = await readTask('mathqa', dataset('mathqa'));

    expect(data.splits.validation).toHaveLength(readJson(files.validation).length);
    expect(data.splits.test).toHaveLength(readJson(files.test).length);
    expect(data.splits.train).toBeUndefined();
  });

  it('rejects a category outside a saved label set', async () => {
    const error = await caught(readMathQA({ test: files.test }, { labels: ['gain', 'general'] }));

    expect(error).toBeInstanceOf(MismatchError);
    expect(error.message).toContain(files.test);
    expect(error.message).toMatch(/label "\w+" of task mathqa is not in the label set \(gain, general\)/);
  });

  it('rejects a task with one class', async () => {
    const file = path.join(temporaryDir(), 'one.json');
    fs.writeFileSync(file, JSON.stringify([{ Problem: 'a', category: 'gain' }, { Problem: 'b', category: 'gain' }]));

    const error = await caught(readMathQA({ train: file }));
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(error.message).toMatch(/only one class \(gain\)/);
  });

  it('rejects a record without a category', async () => {
    const file = path.join(temporaryDir(), 'bad.json');
    fs.writeFileSync(file, JSON.stringify([{ Problem: 'a', category: 'gain' }, { Problem: 'b' }]));

    const error = await caught(readMathQA({ train: file }));
    expect(error).toBeInstanceOf(CheckpointError);
    expect(error.message).toMatch(/bad.json: line 2 has no "category" or "topic" field/);
  });
});

describe('SCOTUS', () => {
  const raw = dataset('lexglue_scotus', 'scotus.jsonl');

  it('splits the raw file by data_type with label = issueArea - 1', async () => {
    const data = await readScotus(raw);
    const records = readJsonLinesFile(raw);
    const splitOf: Record<string, SplitName> = { train: 'train', dev: 'validation', test: 'test' };

    expect(data.labels).toEqual(SCOTUS_LABELS);
    for (const split of SPLIT_NAMES) {
      const expected = records.filter((r) => splitOf[r.data_type] === split);
      expect(data.splits[split]!.map((e) => e.id)).toEqual(expected.map((r) => r.case_id));
      expect(data.splits[split]!.map((e) => e.label)).toEqual(expected.map((r) => Number(r.issueArea) - 1));
      expect(data.splits[split]!.map((e) => e.text)).toEqual(expected.map((r) => r.text));
    }
  });

  it.each(['jsonl', 'parquet'])('reads the Hugging Face format as %s', async (format) => {
    const records = readJsonLinesFile(raw);
    const file = path.join(temporaryDir(), `train.${format}`);
    const rows = records.map((r) => ({ text: r.text, label: Number(r.issueArea) - 1 }));
    if (format === 'jsonl') writeJsonLines(file, rows);
    else {
      writeParquet(file, [
        { name: 'text', data: rows.map((r) => r.text), type: 'STRING' },
        { name: 'label', data: rows.map((r) => BigInt(r.label)), type: 'INT64' },
      ]);
    }

    const data = await readScotus({ train: file });
    expect(data.splits.train!.map((e) => e.label)).toEqual(rows.map((r) => r.label));
  });

  it('rejects an issue area outside the 13 classes', async () => {
    const file = path.join(temporaryDir(), 'train.jsonl');
    writeJsonLines(file, [{ text: 'a', label: 0 }, { text: 'b', label: 13 }]);

    const error = await caught(readScotus({ train: file }));
    expect(error).toBeInstanceOf(MismatchError);
    expect(error.message).toMatch(/train.jsonl line 2: label "14" of task scotus/);
  });

  it('rejects a raw file with an empty split', async () => {
    const file = path.join(temporaryDir(), 'scotus.jsonl');
    writeJsonLines(file, readJsonLinesFile(raw).filter((r) => r.data_type !== 'dev'));

    const error = await caught(readScotus(file));
    expect(error).toBeInstanceOf(CheckpointError);
    expect(error.message).toMatch(/has no records for the validation split of task scotus/);
  });
});

describe('Rosetta Code', () => {
  const root = dataset('rosetta_code');

  it('reads the folder tree without splitting a task', async () => {
    const data = await readRosettaCode(root);
    const languages = fs.readdirSync(root).filter((name) => fs.statSync(path.join(root, name)).isDirectory()).sort();
    const fileCount = languages.reduce((sum, language) => sum + fs.readdirSync(path.join(root, language)).length, 0);

    expect(data.labels).toEqual(languages);
    const all = SPLIT_NAMES.flatMap((split) => data.splits[split]!.map((example) => ({ split, example })));
    expect(all).toHaveLength(fileCount);

    const splitOfTask = new Map<string, SplitName>();
    for (const { split, example } of all) {
      const [language, name] = example.id.split('/');
      expect(data.labels[example.label]).toBe(language);
      expect(example.text).toBe(fs.readFileSync(path.join(root, language, name), 'utf8'));
      const task = rosettaTaskOf(name);
      expect(splitOfTask.get(task) ?? split).toBe(split);
      splitOfTask.set(task, split);
    }
    expect(new Set(splitOfTask.values()).size).toBe(3);
  });

  it('splits the same way every time and follows the fractions', async () => {
    const first = await readRosettaCode(root, { fractions: { train: 0.5, validation: 0.25, test: 0.25 } });
    const second = await readRosettaCode(root, { fractions: { train: 0.5, validation: 0.25, test: 0.25 } });

    expect(second.splits).toEqual(first.splits);
    const onlyTrain = await readRosettaCode(root, { fractions: { train: 1, validation: 0, test: 0 } });
    const total = SPLIT_NAMES.reduce((sum, split) => sum + first.splits[split]!.length, 0);
    expect(onlyTrain.splits.train).toHaveLength(total);
    expect(onlyTrain.splits.validation).toBeUndefined();
  });

  it('rejects fractions that do not add up to 1', async () => {
    const error = await caught(readRosettaCode(root, { fractions: { train: 0.5, validation: 0.1, test: 0.1 } }));

    expect(error).toBeInstanceOf(InvalidInputError);
  });

  it('spreads similar keys over the unit interval', () => {
    const fractions = Array.from({ length: 1000 }, (_, i) => hashFraction(`task-${i}`));
    const buckets = new Array(10).fill(0);
    for (const fraction of fractions) buckets[Math.floor(fraction * 10)] += 1;

    expect(Math.min(...buckets)).toBeGreaterThan(70);
    expect(Math.max(...buckets)).toBeLessThan(130);
  });

  it('names solution tasks without number and extension', () => {
    expect(rosettaTaskOf('99-bottles-of-beer-3.java')).toBe('99-bottles-of-beer');
    expect(rosettaTaskOf('digital-root.java')).toBe('digital-root');
    expect(rosettaTaskOf('100-doors.c')).toBe('100-doors');
  });

  it('reads Hub rows from Parquet, splitting by task_name', async () => {
    const file = path.join(temporaryDir(), 'train-00000-of-00001.parquet');
    const tasks = Array.from({ length: 40 }, (_, i) => `task-${i}`);
    const rows = tasks.flatMap((task) => ['Python', 'Go'].map((language) => ({ task_name: task, language_name: language, code: `${task} in ${language}` })));
    writeParquet(file, [
      { name: 'task_name', data: rows.map((r) => r.task_name), type: 'STRING' },
      { name: 'language_name', data: rows.map((r) => r.language_name), type: 'STRING' },
      { name: 'code', data: rows.map((r) => r.code), type: 'STRING' },
    ]);

    const data = await readRosettaCode(file);
    expect(data.labels).toEqual(['Go', 'Python']);
    for (const split of SPLIT_NAMES) {
      for (const example of data.splits[split]!) {
        const task = example.text.split(' in ')[0];
        const twin = data.splits[split]!.filter((other) => other.text.startsWith(`${task} in `));
        expect(twin).toHaveLength(2);
      }
    }
  });
});

describe('language identification', () => {
  it('reads the UDHR folder with file names as labels', async () => {
    const dir = dataset('langid_udhr', 'udhr2');
    const data = await readLangId(dir);
    const files = fs.readdirSync(dir).filter((name) => name.endsWith('.txt')).sort();
    const lines = files.flatMap((name) => fs.readFileSync(path.join(dir, name), 'utf8').split('\n').filter((line) => line.trim()));

    expect(data.labels).toEqual(files.map((name) => name.replace(/\.txt$/, '')));
    const all = SPLIT_NAMES.flatMap((split) => data.splits[split]!);
    expect(all).toHaveLength(lines.length);
    expect(data.splits.train!.length / all.length).toBeGreaterThan(0.7);
    expect(data.splits.train!.length / all.length).toBeLessThan(0.9);
  });

  it('reads Nordic DSL lines as sentence and code', async () => {
    const dir = temporaryDir();
    const train = path.join(dir, 'nordic_dsl_10000train.csv');
    const test = path.join(dir, 'nordic_dsl_10000test.csv');
    fs.writeFileSync(train, 'Jeg hedder Peter, og jeg bor i Aarhus. da\ndataset10000, Jag heter Anna. sv\n\nEg heiter Ola. nn\n');
    fs.writeFileSync(test, 'Ég heiti Jón. is\r\nEg eiti Jógvan. fo\r\n');

    const data = await readLangId({ train, test });
    expect(data.labels).toEqual(['da', 'fo', 'is', 'nn', 'sv']);
    expect(data.splits.train!.map((e) => [e.text, data.labels[e.label]])).toEqual([
      ['Jeg hedder Peter, og jeg bor i Aarhus.', 'da'],
      ['Jag heter Anna.', 'sv'],
      ['Eg heiter Ola.', 'nn'],
    ]);
    expect(data.splits.test!.map((e) => data.labels[e.label])).toEqual(['is', 'fo']);
  });

  it('rejects a Nordic DSL line without a code', () => {
    expect(() => parseNordicDslLine('no code at the end', 'x.csv', 7)).toThrow(/x.csv: line 7 does not end with a space and a two-letter language code/);
    expect(parseNordicDslLine('   ', 'x.csv', 1)).toBeUndefined();
  });
});

describe('BigCloneBench', () => {
  function writeClone(pairs: Record<string, string>): string {
    const dir = temporaryDir();
    writeJsonLines(path.join(dir, 'data.jsonl'), [
      { func: 'public int add(int a, int b) { return a + b; }', idx: '10' },
      { func: 'int sum(int x, int y) {\n  return x + y;\n}', idx: '11' },
      { func: 'void log(String s) { System.out.println(s); }', idx: '12' },
    ]);
    for (const [name, content] of Object.entries(pairs)) fs.writeFileSync(path.join(dir, name), content);
    return dir;
  }

  it('reads pairs from the CodeXGLUE folder', async () => {
    const dir = writeClone({ 'train.txt': '10\t11\t1\n10\t12\t0\n', 'valid.txt': '11\t12\t0\n', 'test.txt': '12\t10\t0\n11\t10\t1\n' });
    const data = await readTask('clone', dir);

    expect(data.labels).toEqual(['0', '1']);
    expect(data.splits.train).toEqual([
      { id: '10-11', text: 'public int add(int a, int b) { return a + b; }', textPair: 'int sum(int x, int y) {\n  return x + y;\n}', label: 1 },
      { id: '10-12', text: 'public int add(int a, int b) { return a + b; }', textPair: 'void log(String s) { System.out.println(s); }', label: 0 },
    ]);
    expect(data.splits.validation).toHaveLength(1);
    expect(data.splits.test!.map((e) => e.label)).toEqual([0, 1]);
  });

  it.each([
    ['unknown idx', '10\t99\t1\n', /train.txt: line 1 names idx 99, which is not in .*data.jsonl/],
    ['two fields', '10\t11\n', /train.txt: line 1 has 2 tab-separated fields/],
    ['label 2', '10\t11\t2\n', /train.txt: line 1 has label "2"/],
    ['empty pair file', '\n', /has no pairs for the train split of task clone/],
  ])('rejects %s', async (_name, content, pattern) => {
    const dir = writeClone({ 'train.txt': content });
    const error = await caught(readBigCloneBench(dir));

    expect(error).toBeInstanceOf(CheckpointError);
    expect(error.message).toMatch(pattern);
  });
});

describe('CoSQA', () => {
  const file = dataset('cosqa', 'cosqa-dev.json');

  it('pairs the query with the code', async () => {
    const data = await readCoSQA({ validation: file });
    const records = readJson(file);

    expect(data.splits.validation).toHaveLength(records.length);
    data.splits.validation!.forEach((example, i) => {
      expect(example).toEqual({ id: records[i].idx, text: records[i].doc, textPair: records[i].code, label: records[i].label });
    });
  });

  it('rejects a record without code', async () => {
    const bad = path.join(temporaryDir(), 'cosqa-train.json');
    fs.writeFileSync(bad, JSON.stringify([{ idx: 'q-0', doc: 'sort a list', code: 'sorted(x)', label: 1 }, { idx: 'q-1', doc: 'read a file', label: 0 }]));

    const error = await caught(readCoSQA({ train: bad }));
    expect(error).toBeInstanceOf(CheckpointError);
    expect(error.message).toMatch(/cosqa-train.json: line 2 has no "code" field/);
  });
});

describe('code-to-text', () => {
  const root = dataset('code_to_text');
  const languages = fs.readdirSync(root).filter((name) => fs.statSync(path.join(root, name)).isDirectory());

  it.each(languages)('%s joins code and docstring tokens', async (language) => {
    const data = await readTask('summarize', path.join(root, language));
    const fileOf: Record<SplitName, string> = { train: 'train.jsonl', validation: 'valid.jsonl', test: 'test.jsonl' };

    for (const split of SPLIT_NAMES) {
      const records = readJsonLinesFile(path.join(root, language, fileOf[split]));
      const examples = data.splits[split]!;
      expect(examples).toHaveLength(records.length);
      examples.forEach((example: any, i) => {
        expect(example.source).toBe(records[i].code_tokens.join(' ').replace(/\n/g, ' ').trim().split(/\s+/).join(' '));
        expect(example.target).toBe(records[i].docstring_tokens.join(' ').replace(/\n/g, '').trim().split(/\s+/).join(' '));
        expect(example.id).toBe(String(i));
      });
    }
  });
});

describe('code-to-text split files', () => {
  it('match the folder layout', async () => {
    const dir = path.join(dataset('code_to_text'), 'python');
    const fromFiles = await readCodeToText({ train: path.join(dir, 'train.jsonl'), validation: path.join(dir, 'valid.jsonl'), test: path.join(dir, 'test.jsonl') });

    expect(fromFiles.splits).toEqual((await readTask('summarize', dir)).splits);
  });

  it('rejects a record without docstring tokens', async () => {
    const file = path.join(temporaryDir(), 'train.jsonl');
    writeJsonLines(file, [{ code_tokens: ['def', 'f'], docstring_tokens: 'not a list' }]);

    const error = await caught(readCodeToText({ train: file }));
    expect(error).toBeInstanceOf(CheckpointError);
    expect(error.message).toMatch(/line 1 has no "docstring_tokens" list of strings/);
  });
});

describe('Concode', () => {
  it('reads nl and code, with empty test targets', async () => {
    const data = await readConcode({ train: dataset('concode', 'train.json'), validation: dataset('concode', 'dev.json'), test: dataset('concode', 'test.json') });
    const dev = readJsonLinesFile(dataset('concode', 'dev.json'));

    expect(data.splits.validation!.map((e) => e.source)).toEqual(dev.map((r) => r.nl.trim()));
    expect(data.splits.validation!.map((e) => e.target)).toEqual(dev.map((r) => r.code.trim()));
    expect(data.splits.test!.every((e) => e.target === '')).toBe(true);
    expect(data.splits.train).toHaveLength(readJsonLinesFile(dataset('concode', 'train.json')).length);
  });

  it('rejects a folder without Concode files', async () => {
    const error = await caught(readTask('concode', temporaryDir()));

    expect(error).toBeInstanceOf(CheckpointError);
    expect(error.message).toMatch(/has none of the concode split files \(train.json, dev.json, test.json\)/);
  });
});
