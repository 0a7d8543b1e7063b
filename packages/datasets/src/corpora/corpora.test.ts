import * as fs from 'fs';
import * as path from 'path';

import { CheckpointError, InvalidInputError } from '@modularevo/core-tensor';
import { dataset, modelFixtures, modelFixturesOfType, temporaryDir } from '@modularevo/test-support';

import { writeGzip, writeJsonLines, writeZstd } from '../testing/files';
import { loadTokenizer } from '../tokenizer';
import { tokenizeToBlocks } from './blocks';
import { codeSearchNetFiles, codeSearchNetLanguages, readCodeSearchNet } from './codesearchnet';
import { corpusFiles, iterateCorpusTexts, readCorpusTexts } from './text-corpus';

async function caught(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the promise to reject');
}

function textsOf(file: string): string[] {
  return fs.readFileSync(file, 'utf8').split('\n').filter((line) => line.trim()).map((line) => JSON.parse(line).text);
}

describe('Pile-style corpora', () => {
  it.each(['dm_mathematics', 'freelaw', 'europarl'])('%s reads both splits', async (name) => {
    for (const split of ['train', 'test'] as const) {
      const texts = await readCorpusTexts(dataset(name), { split });

      expect(texts).toEqual(textsOf(dataset(name, `${split}.jsonl`)));
    }
  });

  it('reads a single file whatever the split', async () => {
    const file = dataset('freelaw', 'test.jsonl');

    expect(await readCorpusTexts(file, { split: 'train' })).toEqual(textsOf(file));
  });

  it('reads a split folder of zstd and gzip shards in name order', async () => {
    const root = temporaryDir();
    fs.mkdirSync(path.join(root, 'train'));
    const docs = (prefix: string) => Array.from({ length: 5 }, (_, i) => ({ text: `${prefix} document ${i}`, meta: { pile_set_name: 'Github' } }));
    writeZstd(path.join(root, 'train', '00.jsonl.zst'), docs('a').map((d) => JSON.stringify(d)).join('\n'));
    writeGzip(path.join(root, 'train', '01.jsonl.gz'), docs('b').map((d) => JSON.stringify(d)).join('\n'));
    writeJsonLines(path.join(root, 'valid.jsonl'), docs('v'));

    expect(await readCorpusTexts(root)).toEqual([...docs('a'), ...docs('b')].map((d) => d.text));
    expect(await readCorpusTexts(root, { split: 'validation' })).toEqual(docs('v').map((d) => d.text));
    expect(await readCorpusTexts(root, { maxDocuments: 3 })).toEqual(docs('a').slice(0, 3).map((d) => d.text));
  });

  it('rejects a record without text, naming file and line', async () => {
    const file = path.join(temporaryDir(), 'train.jsonl');
    writeJsonLines(file, [{ text: 'ok' }, { content: 'no text field' }]);

    const error = await caught(readCorpusTexts(file));
    expect(error).toBeInstanceOf(CheckpointError);
    expect(error.message).toContain(`${file}: line 2 has no "text" string field (it has content)`);
  });

  it('rejects a missing split and an empty split folder', () => {
    const root = temporaryDir();
    fs.mkdirSync(path.join(root, 'test'));

    expect(() => corpusFiles(root, 'train')).toThrow(/has no train split \(looked for train.jsonl or train\/\)/);
    expect(() => corpusFiles(root, 'test')).toThrow(/has no data files for the test split/);
    expect(() => corpusFiles(path.join(root, 'absent'), 'train')).toThrow(/corpus not found/);
  });

  it('stops reading at maxDocuments', async () => {
    const seen: string[] = [];
    for await (const text of iterateCorpusTexts(dataset('dm_mathematics'), { maxDocuments: 2 })) seen.push(text);

    expect(seen).toHaveLength(2);
  });
});

describe('tokenizeToBlocks', () => {
  it.each(modelFixtures().map(({ name, dir }) => [name, dir]))('%s joins documents with EOS and drops the tail', async (_name, dir) => {
    const tokenizer = loadTokenizer(dir);
    const texts = (await readCorpusTexts(dataset('dm_mathematics'))).slice(0, 20);
    const blocks = await tokenizeToBlocks(texts, tokenizer, 64);

    const joined = texts.flatMap((text, i) => [...(i > 0 ? [tokenizer.eosId!] : []), ...tokenizer.encode(text, { addSpecialTokens: false })]);
    const numBlocks = Math.floor(joined.length / 64);
    expect(blocks.shape).toEqual([numBlocks, 64]);
    expect(Array.from(blocks.data)).toEqual(joined.slice(0, numBlocks * 64));
    expect(blocks.totalTokens).toBe(joined.length);
    expect(blocks.droppedTokens).toBe(joined.length % 64);
    expect(blocks.documents).toBe(20);
  });

  it('streams a compressed corpus', async () => {
    const tokenizer = loadTokenizer(modelFixturesOfType('gpt_neo')[0].dir);
    const file = path.join(temporaryDir(), 'train.jsonl.zst');
    writeZstd(file, textsOf(dataset('freelaw', 'train.jsonl')).map((text) => JSON.stringify({ text })).join('\n'));

    const streamed = await tokenizeToBlocks(iterateCorpusTexts(file), tokenizer, 128);
    const inMemory = await tokenizeToBlocks(textsOf(dataset('freelaw', 'train.jsonl')), tokenizer, 128);
    expect(streamed.shape).toEqual(inMemory.shape);
    expect(Buffer.from(streamed.data.buffer).equals(Buffer.from(inMemory.data.buffer))).toBe(true);
  });

  it('says how many tokens a too-short corpus has', async () => {
    const tokenizer = loadTokenizer(modelFixturesOfType('gpt_neo')[0].dir);
    const short = ['def f():', 'return 1'];
    const tokens = tokenizer.encode(short[0], { addSpecialTokens: false }).length + 1 + tokenizer.encode(short[1], { addSpecialTokens: false }).length;

    const error = await caught(tokenizeToBlocks(short, tokenizer, 512));
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(error.message).toBe(`The corpus has ${tokens} tokens in 2 documents, fewer than one block of 512: use more text or a smaller block size`);
  });

  it('rejects an invalid block size', async () => {
    const tokenizer = loadTokenizer(modelFixturesOfType('gpt_neo')[0].dir);

    await expect(tokenizeToBlocks(['a'], tokenizer, 0)).rejects.toThrow(/Invalid block size 0/);
  });
});

describe('CodeSearchNet layout', () => {
  const root = dataset('codesearchnet');

  it('lists the languages', () => {
    const expected = fs.readdirSync(root).filter((name) => fs.existsSync(path.join(root, name, 'final', 'jsonl'))).sort();

    expect(codeSearchNetLanguages(root)).toEqual(expected);
    expect(expected.length).toBeGreaterThan(0);
  });

  it.each(codeSearchNetLanguages(dataset('codesearchnet')))('%s reads every split', async (language) => {
    for (const split of ['train', 'valid', 'test'] as const) {
      const files = codeSearchNetFiles(root, language, split);
      const expected = files.flatMap((file) => fs.readFileSync(file, 'utf8').split('\n').filter((line) => line.trim()).map((line) => JSON.parse(line)));
      const records = await readCodeSearchNet(root, language, split);

      expect(records).toEqual(expected);
      expect(records.every((record) => record.language === language)).toBe(true);
    }
  });

  it('orders shards numerically and reads .jsonl.gz', async () => {
    const dir = path.join(temporaryDir(), 'go', 'final', 'jsonl', 'train');
    fs.mkdirSync(dir, { recursive: true });
    const record = (n: number) => ({ code: `func f${n}() {}`, code_tokens: ['func'], docstring: '', docstring_tokens: [], language: 'go' });
    for (const n of [10, 2, 1]) writeGzip(path.join(dir, `go_train_${n}.jsonl.gz`), JSON.stringify(record(n)));
    const root = path.resolve(dir, '..', '..', '..', '..');

    const records = await readCodeSearchNet(root, 'go', 'train');
    expect(records.map((r) => r.code)).toEqual(['func f1() {}', 'func f2() {}', 'func f10() {}']);
  });

  it('rejects a record without code tokens', async () => {
    const dir = path.join(temporaryDir(), 'ruby', 'final', 'jsonl', 'test');
    fs.mkdirSync(dir, { recursive: true });
    writeJsonLines(path.join(dir, 'ruby_test_0.jsonl'), [{ code: 'x', docstring: '', docstring_tokens: [], language: 'ruby' }]);
    const root = path.resolve(dir, '..', '..', '..', '..');

    const error = await caught(readCodeSearchNet(root, 'ruby', 'test'));
    expect(error.message).toMatch(/ruby_test_0.jsonl: line 1 has no code_tokens/);
    expect(() => codeSearchNetFiles(root, 'ruby', 'train')).toThrow(/folder not found for ruby train/);
  });
});
