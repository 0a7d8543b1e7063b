import * as fs from 'fs';
import * as path from 'path';

import { CheckpointError, InvalidInputError } from '@modularevo/core-tensor';
import { temporaryDir } from '@modularevo/test-support';

import { readModularizationCorpus } from './corpus';

/** Writes JSON lines of `records` to `file` and returns its path. */
function writeLines(file: string, records: object[]): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, records.map((record) => JSON.stringify(record)).join('\n') + (records.length > 0 ? '\n' : ''));
  return file;
}

describe('readModularizationCorpus', () => {
  it('reads the train and test splits of a folder', async () => {
    const dir = temporaryDir();
    writeLines(path.join(dir, 'train.jsonl'), [{ text: 'a' }, { text: 'b', meta: { pile_set_name: 'X' } }]);
    writeLines(path.join(dir, 'test', 'part-0.jsonl'), [{ text: 'c' }]);
    const corpus = await readModularizationCorpus(dir);
    expect(corpus.train).toEqual(['a', 'b']);
    expect(corpus.test).toEqual(['c']);
    expect(corpus.sources).toEqual({ train: dir, test: dir });
  });

  it('reads one file per split and texts given directly', async () => {
    const dir = temporaryDir();
    const corpus = await readModularizationCorpus({ train: writeLines(path.join(dir, 'math.jsonl'), [{ text: 'x' }, { text: 'y' }]), test: ['z'] }, { maxDocuments: 1 });
    expect(corpus.train).toEqual(['x']);
    expect(corpus.test).toEqual(['z']);
  });

  it('rejects one file as the whole corpus', async () => {
    const file = writeLines(path.join(temporaryDir(), 'math.jsonl'), [{ text: 'x' }]);
    await expect(readModularizationCorpus(file)).rejects.toThrow(/is one file, so it has no separate test split/);
  });

  it('rejects a record without a text field', async () => {
    const dir = temporaryDir();
    writeLines(path.join(dir, 'train.jsonl'), [{ text: 'a' }, { content: 'b' }]);
    writeLines(path.join(dir, 'test.jsonl'), [{ text: 'c' }]);
    const read = readModularizationCorpus(dir);
    await expect(read).rejects.toThrow(CheckpointError);
    await expect(readModularizationCorpus(dir)).rejects.toThrow(/train.jsonl: line 2 has no "text" string field \(it has content\)/);
  });

  it.each([
    ['no documents', [] as string[], /test split of the corpus \(0 test texts given directly\) has no documents/],
    ['only empty documents', ['', '  '], /Every document of the test split .* is empty/],
  ])('rejects a split with %s', async (_case, test, message) => {
    const read = readModularizationCorpus({ train: ['a'], test });
    await expect(read).rejects.toThrow(InvalidInputError);
    await expect(readModularizationCorpus({ train: ['a'], test })).rejects.toThrow(message);
  });

  it('reads splits through readSplit first', async () => {
    const dir = temporaryDir();
    writeLines(path.join(dir, 'test.jsonl'), [{ text: 'from json lines' }]);
    const calls: string[] = [];
    const readSplit = async (source: string, split: string) => {
      calls.push(`${source} ${split}`);
      return split === 'train' ? ['own layout 1', 'own layout 2'] : undefined;
    };

    const corpus = await readModularizationCorpus(dir, { readSplit });
    expect(corpus.train).toEqual(['own layout 1', 'own layout 2']);
    expect(corpus.test).toEqual(['from json lines']);
    expect(calls).toEqual([`${dir} train`, `${dir} test`]);
  });

  it('checks splits that readSplit returns', async () => {
    const readSplit = async () => [] as string[];
    await expect(readModularizationCorpus(temporaryDir(), { readSplit })).rejects.toThrow(/train split of the corpus .* has no documents/);
  });

  it('rejects a folder without a test split', async () => {
    const dir = temporaryDir();
    writeLines(path.join(dir, 'train.jsonl'), [{ text: 'a' }]);
    await expect(readModularizationCorpus(dir)).rejects.toThrow(/has no test split/);
  });
});
