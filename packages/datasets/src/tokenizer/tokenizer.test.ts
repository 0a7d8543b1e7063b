import * as fs from 'fs';
import * as path from 'path';

import { CheckpointError, InvalidInputError } from '@modularevo/core-tensor';
import { modelFixtures, modelFixturesOfType, temporaryDir } from '@modularevo/test-support';

import { loadTokenizer } from './load';

interface TokenizerCase {
  text: string;
  add_special_tokens: boolean;
  ids: number[];
  tokens: string[];
  decoded: string;
}

function casesOf(dir: string): TokenizerCase[] | undefined {
  return JSON.parse(fs.readFileSync(path.join(dir, 'reference.json'), 'utf8')).tokenizer_cases;
}

function sameTokenizerFiles(a: string, b: string): boolean {
  return ['vocab.json', 'merges.txt', 'tokenizer_config.json', 'special_tokens_map.json'].every((name) =>
    fs.readFileSync(path.join(a, name)).equals(fs.readFileSync(path.join(b, name))),
  );
}

/**
 * Returns every model folder with its reference cases. A folder whose reference.json has no
 * cases borrows those of a folder with byte-identical tokenizer files, and fails when there is
 * none.
 */
function parityTable(): [string, string, TokenizerCase[]][] {
  const folders = modelFixtures();
  return folders.map(({ name, dir }) => {
    const own = casesOf(dir);
    if (own) return [name, dir, own];
    const twin = folders.find((other) => casesOf(other.dir) && sameTokenizerFiles(dir, other.dir));
    if (!twin) throw new Error(`${dir}/reference.json has no tokenizer_cases and no folder shares its tokenizer files`);
    return [name, dir, casesOf(twin.dir)!];
  });
}

describe('tokenizer parity with transformers 4.36.2 slow tokenizers', () => {
  describe.each(parityTable())('%s', (_name, dir, cases) => {
    const tokenizer = loadTokenizer(dir);

    it.each(cases.map((c, i) => [i, JSON.stringify(c.text).slice(0, 40), c] as const))('case %i %s encodes', (_i, _text, c) => {
      expect(tokenizer.tokenize(c.text, { addSpecialTokens: c.add_special_tokens })).toEqual(c.tokens);
      expect(tokenizer.encode(c.text, { addSpecialTokens: c.add_special_tokens })).toEqual(c.ids);
    });

    it.each(cases.map((c, i) => [i, c] as const))('case %i decodes', (_i, c) => {
      expect(tokenizer.decode(c.ids)).toBe(c.decoded);
    });

    it('round-trips texts without special tokens', () => {
      // a special token in the text is dropped by skipSpecialTokens (and <mask> absorbs a space)
      const plainTexts = cases.filter((c) => !c.tokens.some((token) => /^<.*>$/.test(token) && c.text.includes(token)));
      expect(plainTexts.length).toBeGreaterThan(0);
      for (const c of plainTexts) {
        expect(tokenizer.decode(tokenizer.encode(c.text), { skipSpecialTokens: true })).toBe(c.text);
      }
    });
  });
});

describe('tokenizer special tokens', () => {
  it.each(modelFixtures().map(({ name, dir }) => [name, dir]))('%s ids match config.json', (_name, dir) => {
    const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
    const tokenizer = loadTokenizer(dir);

    expect(tokenizer.vocabSize).toBe(config.vocab_size);
    expect(tokenizer.bosId).toBe(config.bos_token_id);
    expect(tokenizer.eosId).toBe(config.eos_token_id);
    if (config.pad_token_id !== undefined && config.pad_token_id !== null && config.model_type !== 'gpt_neo') {
      expect(tokenizer.padId).toBe(config.pad_token_id);
    }
  });

  it.each(modelFixturesOfType('gpt_neo').map(({ name, dir }) => [name, dir]))('%s pads with EOS only on request', (_name, dir) => {
    const plain = loadTokenizer(dir);
    const padded = loadTokenizer(dir, { padWithEos: true });

    expect(plain.padId).toBeUndefined();
    expect(plain.numSpecialTokensToAdd).toBe(0);
    expect(padded.padId).toBe(padded.eosId);
    expect(() => plain.encodeBatch(['a'])).toThrow(InvalidInputError);
  });

  it.each(modelFixturesOfType('roberta').map(({ name, dir }) => [name, dir]))('%s has RoBERTa special tokens', (_name, dir) => {
    const tokenizer = loadTokenizer(dir);

    expect(tokenizer.idToToken(tokenizer.bosId!)).toBe('<s>');
    expect(tokenizer.idToToken(tokenizer.eosId!)).toBe('</s>');
    expect(tokenizer.idToToken(tokenizer.padId!)).toBe('<pad>');
    expect(tokenizer.idToToken(tokenizer.unkId!)).toBe('<unk>');
    expect(tokenizer.idToToken(tokenizer.maskId!)).toBe('<mask>');
    expect(tokenizer.numSpecialTokensToAdd).toBe(2);
    expect(tokenizer.tokenize('a <mask>')).toEqual(['<s>', 'a', '<mask>', '</s>']);
  });

  it.each(modelFixtures().map(({ name, dir }) => [name, dir]))('%s loads the same from tokenizer.json', (_name, dir) => {
    const copy = temporaryDir();
    for (const name of fs.readdirSync(dir)) {
      if (/\.(json|txt)$/.test(name)) fs.copyFileSync(path.join(dir, name), path.join(copy, name));
    }
    const { buildByteLevelBpe } = jest.requireActual('./byte-level-bpe');
    fs.writeFileSync(path.join(copy, 'tokenizer.json'), JSON.stringify(buildByteLevelBpe(dir).tokenizerJson));
    fs.rmSync(path.join(copy, 'vocab.json'));
    fs.rmSync(path.join(copy, 'merges.txt'));

    const fromJson = loadTokenizer(copy);
    const fromFiles = loadTokenizer(dir);
    const text = 'def f(x):\n    return x <mask> 1 # café';
    expect(fromJson.encode(text)).toEqual(fromFiles.encode(text));
    expect(fromJson.eosId).toBe(fromFiles.eosId);
  });
});

describe('tokenizer batch encoding', () => {
  const roberta = modelFixturesOfType('roberta')[0].dir;
  const gptNeo = modelFixturesOfType('gpt_neo')[0].dir;

  it('pads on the right with the attention mask', () => {
    const tokenizer = loadTokenizer(roberta);
    const texts = ['def add(a, b):', 'x'];
    const batch = tokenizer.encodeBatch(texts);
    const first = tokenizer.encode(texts[0]);
    const second = tokenizer.encode(texts[1]);

    expect(batch.shape).toEqual([2, first.length]);
    expect(Array.from(batch.inputIds.subarray(0, first.length))).toEqual(first);
    expect(Array.from(batch.inputIds.subarray(first.length, first.length + second.length))).toEqual(second);
    expect(Array.from(batch.inputIds.subarray(first.length + second.length))).toEqual(new Array(first.length - second.length).fill(tokenizer.padId));
    expect(Array.from(batch.attentionMask.subarray(first.length))).toEqual([...second.map(() => 1), ...new Array(first.length - second.length).fill(0)]);
    expect(batch.lengths).toEqual([first.length, second.length]);
    expect(batch.truncated).toBe(0);
  });

  it('pads on the left when asked', () => {
    const tokenizer = loadTokenizer(gptNeo, { padWithEos: true });
    const batch = tokenizer.encodeBatch(['hello world', 'x'], { paddingSide: 'left' });
    const second = tokenizer.encode('x');
    const seq = batch.shape[1];

    expect(Array.from(batch.inputIds.subarray(2 * seq - second.length))).toEqual(second);
    expect(batch.inputIds[seq]).toBe(tokenizer.eosId);
    expect(batch.attentionMask[seq]).toBe(0);
    expect(batch.attentionMask[2 * seq - 1]).toBe(1);
  });

  it('truncates keeping the special tokens', () => {
    const tokenizer = loadTokenizer(roberta);
    const text = 'import torch.nn as nn; model.eval()';
    const full = tokenizer.encode(text);
    const cut = tokenizer.encode(text, { maxLength: 6 });

    expect(cut).toEqual([...full.slice(0, 5), full[full.length - 1]]);
    const batch = tokenizer.encodeBatch([text, 'x'], { maxLength: 6, padding: 'max_length' });
    expect(batch.shape).toEqual([2, 6]);
    expect(batch.truncated).toBe(1);
    expect(Array.from(batch.inputIds.subarray(0, 6))).toEqual(cut);
  });

  it('rejects a maxLength that cannot hold the special tokens', () => {
    const tokenizer = loadTokenizer(roberta);

    expect(() => tokenizer.encode('abc', { maxLength: 2 })).toThrow(/Invalid maxLength 2/);
    expect(() => tokenizer.encodeBatch(['a'], { padding: 'max_length' })).toThrow(/needs maxLength/);
  });

  it('rejects ids outside the vocabulary when decoding', () => {
    const tokenizer = loadTokenizer(roberta);

    expect(() => tokenizer.decode([0, tokenizer.vocabSize])).toThrow(InvalidInputError);
    expect(() => tokenizer.decode([1.5])).toThrow(/Cannot decode token id 1.5/);
    expect(tokenizer.decode([])).toBe('');
  });
});

describe('loadTokenizer bad input', () => {
  function folderWith(files: Record<string, string>): string {
    const dir = temporaryDir();
    for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), content);
    return dir;
  }

  const source = modelFixturesOfType('gpt_neo')[0].dir;
  const vocab = fs.readFileSync(path.join(source, 'vocab.json'), 'utf8');
  const merges = fs.readFileSync(path.join(source, 'merges.txt'), 'utf8');

  const cases: [string, () => string, RegExp][] = [
    ['missing folder', () => path.join(temporaryDir(), 'nope'), /model folder not found/],
    ['no tokenizer files', () => folderWith({ 'config.json': '{}' }), /has no tokenizer.json and no vocab.json or merges.txt/],
    ['only vocab.json', () => folderWith({ 'vocab.json': vocab }), /no merges.txt/],
    ['vocab not an object', () => folderWith({ 'vocab.json': '[1]', 'merges.txt': merges }), /vocab.json: is not a JSON object/],
    ['bad merges line', () => folderWith({ 'vocab.json': vocab, 'merges.txt': '#version: 0.2\na b c\n' }), /line 2 is not a merge of two tokens/],
    ['broken config', () => folderWith({ 'vocab.json': vocab, 'merges.txt': merges, 'tokenizer_config.json': '{' }), /tokenizer_config.json: is not valid JSON/],
    [
      'unsupported tokenizer class',
      () => folderWith({ 'vocab.json': vocab, 'merges.txt': merges, 'tokenizer_config.json': '{"tokenizer_class": "T5Tokenizer"}' }),
      /tokenizer_class "T5Tokenizer" cannot be built/,
    ],
    ['tokenizer.json without a model', () => folderWith({ 'tokenizer.json': '{"version": "1.0"}' }), /has no "model" or "added_tokens"/],
  ];

  it.each(cases)('%s gives a clear error', (_name, build, pattern) => {
    const dir = build();
    let caught: unknown;
    try {
      loadTokenizer(dir);
    } catch (error) {
      caught = error;
    }

    expect(caught).toBeInstanceOf(CheckpointError);
    expect((caught as Error).message).toContain(dir);
    expect((caught as Error).message).toMatch(pattern);
  });

  it('gives a special token missing from vocab.json the next id', () => {
    const dir = folderWith({ 'vocab.json': vocab, 'merges.txt': merges, 'tokenizer_config.json': '{"tokenizer_class": "GPT2Tokenizer", "pad_token": "<|pad|>"}' });
    const tokenizer = loadTokenizer(dir);
    const size = Object.keys(JSON.parse(vocab)).length;

    expect(tokenizer.padId).toBe(size);
    expect(tokenizer.vocabSize).toBe(size + 1);
    expect(tokenizer.encode('a<|pad|>', { addSpecialTokens: false })).toEqual([...tokenizer.encode('a'), size]);
  });
});

describe('tokenizer whitespace like Python regex', () => {
  // pieces from `regex.findall` (the Python module the slow GPT2Tokenizer uses) with its pattern
  const table: [string, string[]][] = [
    ['a \u0085b', ['a', ' ', '\u0085', 'b']],
    ['a \ufeffb', ['a', ' \ufeff', 'b']],
    ['tab\t\u0085 q', ['tab', '\t\u0085', ' q']],
    ['a  \u0085  b', ['a', '  \u0085 ', ' b']],
    ['x\u0085\u0085 y', ['x', '\u0085\u0085', ' y']],
    ['a\u001cb \u001f c', ['a', '\u001c', 'b', ' \u001f', ' c']],
  ];

  // merges across a space and the first byte of U+0085 (Â) or U+FEFF (ï), so that a different
  // split gives different tokens (the fixture vocabularies are too small to show it)
  const extraMerges = ['Ġ Â', 'Ġ ï', 'ĉ Â', 'ĠĠ Â'];

  function withExtraMerges(dir: string): string {
    const copy = temporaryDir();
    for (const name of ['tokenizer_config.json', 'special_tokens_map.json', 'config.json']) {
      if (fs.existsSync(path.join(dir, name))) fs.copyFileSync(path.join(dir, name), path.join(copy, name));
    }
    const vocab = JSON.parse(fs.readFileSync(path.join(dir, 'vocab.json'), 'utf8'));
    let next = Math.max(...(Object.values(vocab) as number[])) + 1;
    for (const merge of extraMerges) vocab[merge.replace(' ', '')] ??= next++;
    fs.writeFileSync(path.join(copy, 'vocab.json'), JSON.stringify(vocab));
    fs.writeFileSync(path.join(copy, 'merges.txt'), fs.readFileSync(path.join(dir, 'merges.txt'), 'utf8').trimEnd() + '\n' + extraMerges.join('\n') + '\n');
    return copy;
  }

  describe.each(modelFixtures().map(({ name, dir }) => [name, dir]))('%s', (_name, dir) => {
    const tokenizer = loadTokenizer(withExtraMerges(dir));

    it.each(table)('splits %j like Python', (text, pieces) => {
      const expected = pieces.flatMap((piece) => tokenizer.tokenize(piece, { addSpecialTokens: false }));

      expect(tokenizer.tokenize(text, { addSpecialTokens: false })).toEqual(expected);
      expect(tokenizer.decode(tokenizer.encode(text, { addSpecialTokens: false }))).toBe(text);
    });

    it('merges across a space before U+0085', () => {
      expect(tokenizer.tokenize('x \u0085', { addSpecialTokens: false })).toEqual(['x', 'ĠÂ', 'ħ']);
    });
  });

  it('differs from the unpatched ByteLevel pattern on U+0085', () => {
    // JavaScript's \s lacks U+0085, so the library's own pattern keeps " \u0085" together
    const javascriptPattern = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

    expect('a \u0085b'.match(javascriptPattern)).toEqual(['a', ' \u0085', 'b']);
  });
});
