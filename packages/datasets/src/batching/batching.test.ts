import { createRng, InvalidInputError } from '@modularevo/core-tensor';
import { modelFixturesOfType } from '@modularevo/test-support';

import { loadTokenizer } from '../tokenizer';
import { batches } from './batches';
import { collateLabelled, padSequences } from './collate';
import { encodeTexts } from './encode';
import { stageShards } from './shards';
import { shuffle } from './shuffle';

const items = Array.from({ length: 23 }, (_, i) => i);

describe('shuffle', () => {
  it('is a permutation fixed by the seed', () => {
    const first = shuffle(items, createRng(7).fork('data'));
    const again = shuffle(items, createRng(7).fork('data'));
    const other = shuffle(items, createRng(8).fork('data'));

    expect([...first].sort((a, b) => a - b)).toEqual(items);
    expect(again).toEqual(first);
    expect(other).not.toEqual(first);
    expect(first).not.toEqual(items);
  });

  it('draws Fisher-Yates from the last position down', () => {
    // uniform() = 0 always swaps position i with position 0
    const zero = { uniform: () => 0 };

    expect(shuffle([0, 1, 2, 3], zero)).toEqual([1, 2, 3, 0]);
  });

  it('accepts a shuffle function and checks it', () => {
    expect(shuffle([1, 2, 3], (xs) => [...xs].reverse())).toEqual([3, 2, 1]);
    expect(() => shuffle([1, 2, 3], (xs) => xs.slice(1))).toThrow(InvalidInputError);
  });
});

describe('batches', () => {
  it('cuts fixed-size batches with a short last one', () => {
    const out = batches(items, 5);

    expect(out.map((batch) => batch.length)).toEqual([5, 5, 5, 5, 3]);
    expect(out.flat()).toEqual(items);
  });

  it('drops the short last batch when asked', () => {
    expect(batches(items, 5, { dropLast: true }).map((batch) => batch.length)).toEqual([5, 5, 5, 5]);
  });

  it('shuffles with the seeded source', () => {
    const out = batches(items, 4, { shuffle: createRng(3) });

    expect(out.flat()).toEqual(shuffle(items, createRng(3)));
  });

  it('rejects a batch size of 0', () => {
    expect(() => batches(items, 0)).toThrow(/Invalid batch size 0/);
  });
});

describe('stageShards', () => {
  it('splits into disjoint shards covering every item', () => {
    const shards = stageShards(items, 3, createRng(42));

    expect(shards.map((shard) => shard.length)).toEqual([7, 7, 9]);
    expect(shards.flat().sort((a, b) => a - b)).toEqual(items);
    expect(stageShards(items, 3, createRng(42))).toEqual(shards);
  });

  it('rejects more stages than examples', () => {
    expect(() => stageShards([1, 2], 3, createRng(1))).toThrow(/Cannot split 2 training examples into 3 stages/);
    expect(() => stageShards(items, 0, createRng(1))).toThrow(InvalidInputError);
  });
});

describe('padSequences', () => {
  it('pads right to the longest row', () => {
    const batch = padSequences([[5, 6, 7], [8]], 1);

    expect(batch.shape).toEqual([2, 3]);
    expect(Array.from(batch.inputIds)).toEqual([5, 6, 7, 8, 1, 1]);
    expect(Array.from(batch.attentionMask)).toEqual([1, 1, 1, 1, 0, 0]);
  });

  it('pads left to a fixed length', () => {
    const batch = padSequences([[5, 6], [8]], 0, { length: 4, paddingSide: 'left' });

    expect(Array.from(batch.inputIds)).toEqual([0, 0, 5, 6, 0, 0, 0, 8]);
    expect(Array.from(batch.attentionMask)).toEqual([0, 0, 1, 1, 0, 0, 0, 1]);
  });

  it('rejects rows longer than the length and empty batches', () => {
    expect(() => padSequences([[1, 2, 3]], 0, { length: 2 })).toThrow(/3 tokens, more than the padded length 2/);
    expect(() => padSequences([], 0)).toThrow(/empty batch/);
  });

  it('collates labels with the ids', () => {
    const batch = collateLabelled([{ ids: [3, 4], label: 2 }, { ids: [5], label: 0 }], 9);

    expect(Array.from(batch.labels)).toEqual([2, 0]);
    expect(Array.from(batch.inputIds)).toEqual([3, 4, 5, 9]);
  });
});

describe('encodeTexts', () => {
  const tokenizer = loadTokenizer(modelFixturesOfType('roberta')[0].dir);
  const texts = ['def add(a, b):\n    return a + b\n', 'x', 'import torch.nn as nn; model.eval()'];

  it('truncates long texts keeping special tokens and warns once', () => {
    const warnings: string[] = [];
    const spy = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: any) => {
      warnings.push(String(chunk));
      return true;
    });
    const encoded = encodeTexts(texts, tokenizer, { maxLength: 8, datasetName: 'toy/train' });
    spy.mockRestore();

    expect(encoded.truncated).toBe(2);
    expect(encoded.ids.map((ids) => ids.length)).toEqual([8, 3, 8]);
    expect(encoded.ids[0][7]).toBe(tokenizer.eosId);
    expect(encoded.longest).toBe(tokenizer.encode(texts[0]).length);
    const lines = warnings.join('').split('\n').filter((line) => line.includes('toy/train'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/2 of 3 texts \(66.7%\) exceed 8 tokens and were truncated/);
  });

  it('leaves short texts alone', () => {
    const encoded = encodeTexts(texts, tokenizer, { maxLength: 512, datasetName: 'toy/test' });

    expect(encoded.truncated).toBe(0);
    expect(encoded.ids).toEqual(texts.map((text) => tokenizer.encode(text)));
  });
});
