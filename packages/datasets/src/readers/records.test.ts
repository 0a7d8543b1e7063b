import * as fs from 'fs';
import * as path from 'path';

import { CheckpointError } from '@modularevo/core-tensor';
import { dataset, temporaryDir } from '@modularevo/test-support';

import { writeArrow, writeGzip, writeJsonLines, writeParquet, writeZstd } from '../testing/files';
import { iterateRecords, readLocatedRecords, readRecords } from './records';

async function caught(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the promise to reject');
}

describe('readRecords on reference data', () => {
  it('reads SCOTUS JSON Lines with every field', async () => {
    const records = await readRecords(dataset('lexglue_scotus', 'scotus.jsonl'));
    const lines = fs.readFileSync(dataset('lexglue_scotus', 'scotus.jsonl'), 'utf8').split('\n').filter((line) => line.trim());

    expect(records).toHaveLength(lines.length);
    expect(records[0]).toEqual(JSON.parse(lines[0]));
  });

  it('reads a MathQA JSON array', async () => {
    const file = dataset('mathqa', 'dev.json');
    const records = await readRecords(file);

    expect(records).toEqual(JSON.parse(fs.readFileSync(file, 'utf8')));
  });

  it('reads Concode JSON Lines under a .json name', async () => {
    const file = dataset('concode', 'dev.json');
    const records = await readRecords(file);
    const lines = fs.readFileSync(file, 'utf8').split('\n').filter((line) => line.trim());

    expect(records).toHaveLength(lines.length);
    expect(Object.keys(records[0]).sort()).toEqual(['code', 'nl']);
  });

  it('numbers JSON array rows from 1', async () => {
    const located = await readLocatedRecords(dataset('cosqa', 'cosqa-dev.json'));

    expect(located[0].line).toBe(1);
    expect(located[located.length - 1].line).toBe(located.length);
  });
});

describe('readRecords on written files', () => {
  const rows = [
    { text: 'first, with a comma', label: 3 },
    { text: 'second "quoted"\nover two lines', label: 7 },
    { text: 'ünïcödé 你好', label: 0 },
  ];

  it('reads gzip JSON Lines', async () => {
    const file = path.join(temporaryDir(), 'part.jsonl.gz');
    writeGzip(file, rows.map((row) => JSON.stringify(row)).join('\n'));

    expect(await readRecords(file)).toEqual(rows);
  });

  it('streams zstd JSON Lines across chunks', async () => {
    const file = path.join(temporaryDir(), 'pile.jsonl.zst');
    const many = Array.from({ length: 3000 }, (_, i) => ({ text: `document ${i} ${'x'.repeat(i % 97)}`, meta: { pile_set_name: 'FreeLaw' } }));
    writeZstd(file, many.map((row) => JSON.stringify(row)).join('\n') + '\n');

    const read = await readRecords(file);
    expect(fs.statSync(file).size).toBeGreaterThan(64 * 1024);
    expect(read).toEqual(many);
  });

  it('reads CSV with quotes and multi-line fields', async () => {
    const file = path.join(temporaryDir(), 'rows.csv');
    const quote = (value: string) => `"${value.replace(/"/g, '""')}"`;
    fs.writeFileSync(file, ['text,label', ...rows.map((row) => `${quote(row.text)},${row.label}`)].join('\n'));

    const read = await readLocatedRecords(file);
    expect(read.map((r) => r.record)).toEqual(rows.map((row) => ({ text: row.text, label: String(row.label) })));
    expect(read.map((r) => r.line)).toEqual([2, 4, 5]);
  });

  it('reads Parquet with int64 labels as numbers', async () => {
    const file = path.join(temporaryDir(), 'train-00000-of-00001.parquet');
    writeParquet(file, [
      { name: 'text', data: rows.map((row) => row.text), type: 'STRING' },
      { name: 'label', data: rows.map((row) => BigInt(row.label)), type: 'INT64' },
    ]);

    expect(await readRecords(file)).toEqual(rows);
  });

  it('reads Parquet over several row groups', async () => {
    const file = path.join(temporaryDir(), 'groups.parquet');
    const ids = Array.from({ length: 25 }, (_, i) => i);
    writeParquet(file, [{ name: 'id', data: ids, type: 'INT32' }], 10);

    const read = await readLocatedRecords(file);
    expect(read.map((r) => r.record.id)).toEqual(ids);
    expect(read.map((r) => r.line)).toEqual(ids.map((i) => i + 1));
  });

  it.each(['file', 'stream'] as const)('reads Arrow IPC %s format', async (format) => {
    const file = path.join(temporaryDir(), 'data.arrow');
    writeArrow(file, rows, format);

    expect(await readRecords(file)).toEqual(rows);
  });
});

describe('readRecords bad input', () => {
  function write(name: string, content: string | Buffer): string {
    const file = path.join(temporaryDir(), name);
    fs.writeFileSync(file, content);
    return file;
  }

  const cases: [string, () => string, RegExp][] = [
    ['missing file', () => path.join(temporaryDir(), 'absent.jsonl'), /file not found/],
    ['unknown extension', () => write('data.txt', 'x'), /unknown record file type/],
    ['invalid JSON line', () => write('bad.jsonl', '{"a": 1}\n\n{"a": 2\n'), /line 3 is not valid JSON/],
    ['line that is not an object', () => write('list.jsonl', '{"a": 1}\n[1, 2]\n'), /line 2 is an array, not a JSON object/],
    ['empty JSON Lines file', () => write('empty.jsonl', '\n\n'), /contains no records/],
    ['empty JSON array', () => write('empty.json', '[]'), /contains no records/],
    ['invalid JSON array', () => write('broken.json', '[\n {"a": 1},\n {"a": }\n]'), /is not valid JSON at line 3/],
    ['JSON array element not an object', () => write('mixed.json', '[{"a": 1}, 2]'), /row 2 is a number/],
    ['corrupt gzip', () => write('bad.jsonl.gz', 'not gzip at all'), /could not be read after line 0/],
    ['corrupt zstd', () => write('bad.jsonl.zst', 'not zstd at all'), /could not be read after line 0/],
    ['CSV with a short row', () => write('short.csv', 'a,b\n1,2\n3\n'), /is not valid CSV/],
    ['CSV with only a header', () => write('header.csv', 'a,b\n'), /contains no data rows/],
    ['garbage Parquet', () => write('bad.parquet', 'PAR1 nonsense'), /is not a valid Parquet file/],
    ['garbage Arrow', () => write('bad.arrow', 'nonsense bytes here'), /is not a valid Arrow IPC file/],
    ['compressed Parquet name', () => write('x.parquet.gz', 'x'), /cannot be wrapped in gzip/],
  ];

  it.each(cases)('%s gives a clear error', async (_name, build, pattern) => {
    const file = build();
    const error = await caught(readRecords(file));

    expect(error).toBeInstanceOf(CheckpointError);
    expect(error.message).toContain(file);
    expect(error.message).toMatch(pattern);
  });

  it('yields the good lines before a bad one', async () => {
    const file = write('late.jsonl', '{"a": 1}\n{"a": 2}\nnot json\n');
    const seen: unknown[] = [];
    const error = await caught(
      (async () => {
        for await (const { record } of iterateRecords(file)) seen.push(record.a);
      })(),
    );

    expect(seen).toEqual([1, 2]);
    expect(error.message).toMatch(/line 3/);
  });

  it('reads a JSON Lines file written by the helper', async () => {
    const file = path.join(temporaryDir(), 'x.jsonl');
    writeJsonLines(file, [{ a: 1 }]);

    expect(await readRecords(file)).toEqual([{ a: 1 }]);
  });
});
