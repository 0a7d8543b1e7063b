import * as fs from 'fs';
import * as path from 'path';

import * as tf from '@tensorflow/tfjs-core';

import { CheckpointError, initBackend, Rng } from '@modularevo/core-tensor';
import { loadTokenizer } from '@modularevo/datasets';
import { dataset, modelFixturesOfType } from '@modularevo/test-support';

import { codeCorpusText, readCodeCorpus } from './corpus';
import { CodeBertModel } from './model';
import { IGNORE_INDEX, maskedLMLoss, maskedLMObjective, maskingVocabulary, maskTokens, type MaskedLMCorpus, type MaskingVocabulary } from './objective';

function fixtureOfClass(architecture: string): string {
  const found = modelFixturesOfType('roberta').find(({ dir }) => JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')).architectures?.[0] === architecture);
  if (!found) throw new Error(`No RoBERTa model fixture with architectures ["${architecture}"]`);
  return found.dir;
}

const mlmDir = fixtureOfClass('RobertaForMaskedLM');
const baseDir = fixtureOfClass('RobertaModel');

const VOCABULARY: MaskingVocabulary = { maskId: 999, padId: 1, vocabSize: 1000, specialIds: new Set([0, 1, 2, 3, 999]) };

beforeAll(async () => {
  await initBackend();
});

describe('maskTokens', () => {
  // one long row: <s>, 20000 ordinary tokens, </s>, then padding
  const content = Array.from({ length: 20_000 }, (_, i) => 4 + (i % 900));
  const row = [0, ...content, 2, 1, 1, 1];

  it('chooses 15% and splits them 80/10/10', () => {
    const { inputIds, labels } = maskTokens([row], VOCABULARY, Rng.create(7));
    const chosen = labels[0].map((label, t) => ({ label, t })).filter(({ label }) => label !== IGNORE_INDEX);
    const masked = chosen.filter(({ t }) => inputIds[0][t] === 999).length;
    const kept = chosen.filter(({ t }) => inputIds[0][t] === row[t]).length;

    const share = chosen.length / content.length;
    expect(Math.abs(share - 0.15)).toBeLessThan(4 * Math.sqrt((0.15 * 0.85) / content.length));
    expect(Math.abs(masked / chosen.length - 0.8)).toBeLessThan(0.03);
    // a random replacement can draw the original id, so "kept" is 10% plus a sliver
    expect(Math.abs(kept / chosen.length - 0.1)).toBeLessThan(0.02);
    expect(Math.abs((chosen.length - masked - kept) / chosen.length - 0.1)).toBeLessThan(0.02);
  });

  it('never chooses special tokens or padding', () => {
    const { inputIds, labels } = maskTokens([row], VOCABULARY, Rng.create(8));
    for (const t of [0, row.length - 4, row.length - 3, row.length - 2, row.length - 1]) {
      expect(labels[0][t]).toBe(IGNORE_INDEX);
      expect(inputIds[0][t]).toBe(row[t]);
    }
  });

  it('labels chosen positions with the original id', () => {
    const { inputIds, labels } = maskTokens([row], VOCABULARY, Rng.create(9));
    const changedUnchosen = labels[0].filter((label, t) => label === IGNORE_INDEX && inputIds[0][t] !== row[t]).length;
    const wrongLabels = labels[0].filter((label, t) => label !== IGNORE_INDEX && label !== row[t]).length;
    expect(changedUnchosen).toBe(0);
    expect(wrongLabels).toBe(0);
  });

  it('repeats with the same seed', () => {
    expect(maskTokens([row], VOCABULARY, Rng.create(10))).toEqual(maskTokens([row], VOCABULARY, Rng.create(10)));
    expect(maskTokens([row], VOCABULARY, Rng.create(10))).not.toEqual(maskTokens([row], VOCABULARY, Rng.create(11)));
  });

  it('reads the ids from the tokenizer', () => {
    const vocabulary = maskingVocabulary(loadTokenizer(mlmDir), mlmDir);
    expect(vocabulary.maskId).toBe(999);
    expect(vocabulary.padId).toBe(1);
    expect([...vocabulary.specialIds].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 999]);
  });
});

describe('masked-lm objective', () => {
  let model: CodeBertModel;
  let texts: string[];

  beforeAll(async () => {
    model = CodeBertModel.fromPretrained(mlmDir);
    texts = await readCodeCorpus(dataset('codesearchnet'), 'python', 'train');
  });

  afterAll(() => model.dispose());

  it('batches reproducibly per epoch', () => {
    const corpus = maskedLMObjective.prepare(model, texts, { blockSize: 512, batchSize: 1, seed: 3 });
    expect(corpus.numBlocks).toBe(texts.length);
    expect(corpus.batches(0)).toEqual(maskedLMObjective.prepare(model, texts, { blockSize: 512, batchSize: 1, seed: 3 }).batches(0));
    expect(corpus.batches(0)).not.toEqual(corpus.batches(1));
  });

  it('counts the chosen positions of a batch', () => {
    const corpus = maskedLMObjective.prepare(model, texts, { blockSize: 512, batchSize: 2, seed: 3 }) as MaskedLMCorpus;
    for (const batch of corpus.batches(0)) {
      const chosen = batch.labels.flat().filter((label) => label !== IGNORE_INDEX).length;
      expect(corpus.targetTokens(batch)).toBe(chosen);
    }
  });

  it('cuts sequences to the model positions', () => {
    const corpus = maskedLMObjective.prepare(model, texts, { blockSize: 512, batchSize: 2, seed: 3 });
    for (const batch of corpus.batches(0)) {
      for (const row of batch.inputIds) expect(row.length).toBeLessThanOrEqual(38);
      batch.attentionMask.forEach((mask, b) =>
        mask.forEach((value, t) => {
          if (value === 0) expect(batch.labels[b][t]).toBe(IGNORE_INDEX);
        }),
      );
    }
  });

  it('has a finite loss with gradients', () => {
    const [batch] = maskedLMObjective.prepare(model, texts, { blockSize: 32, batchSize: 2, seed: 4 }).batches(0);
    expect(batch.labels.flat().some((label) => label !== IGNORE_INDEX)).toBe(true);
    const { value, grads } = tf.variableGrads(() => maskedLMObjective.loss(model, batch) as tf.Scalar);
    try {
      expect(Number.isFinite(value.dataSync()[0])).toBe(true);
      expect(value.dataSync()[0]).toBeGreaterThan(0);
      const decoderBias = model.parameter('lm_head.bias');
      expect(tf.tidy(() => tf.max(tf.abs(grads[decoderBias.name])).dataSync()[0])).toBeGreaterThan(0);
    } finally {
      tf.dispose([value, ...Object.values(grads)]);
    }
  });

  it('gives 0 without chosen tokens', () => {
    const loss = tf.tidy(() => maskedLMLoss(model, { inputIds: [[0, 5, 2]], attentionMask: [[1, 1, 1]], labels: [[-100, -100, -100]] }).dataSync()[0]);
    expect(loss).toBe(0);
  });

  it('rejects a RobertaModel checkpoint', () => {
    const base = CodeBertModel.fromPretrained(baseDir);
    try {
      expect(() => maskedLMObjective.prepare(base, texts, { blockSize: 32, batchSize: 2, seed: 1 })).toThrow(CheckpointError);
      expect(() => maskedLMObjective.prepare(base, texts, { blockSize: 32, batchSize: 2, seed: 1 })).toThrow(/microsoft\/codebert-base-mlm/);
    } finally {
      base.dispose();
    }
  });

  it.each([
    [{ blockSize: 0, batchSize: 2, seed: 1 }, /Invalid blockSize 0/],
    [{ blockSize: 32, batchSize: 1.5, seed: 1 }, /Invalid batchSize 1.5/],
    [{ blockSize: 32, batchSize: 2, seed: 1, maxBlocks: 0 }, /Invalid maxBlocks 0/],
  ])('rejects corpus options %j', (options, message) => {
    expect(() => maskedLMObjective.prepare(model, texts, options)).toThrow(message);
  });
});

describe('CodeSearchNet corpus', () => {
  const record = (changes: Record<string, unknown>) =>
    ({ func_name: 'parse', code_tokens: new Array(20).fill('x'), docstring_tokens: ['a', 'b', 'c'], ...changes }) as never;

  it.each([
    ['a kept function', {}, true],
    ['a test function', { func_name: 'test_parse' }, false],
    ['19 code tokens', { code_tokens: new Array(19).fill('x') }, false],
    ['2 docstring tokens', { docstring_tokens: ['a', 'b'] }, false],
  ])('filters %s', (_name, changes, kept) => {
    expect(codeCorpusText(record(changes)) !== undefined).toBe(kept);
  });

  it('joins code then docstring tokens', () => {
    expect(codeCorpusText(record({ code_tokens: ['def', 'f', '(', ')', ...new Array(16).fill(':')], docstring_tokens: ['Do', 'it', '.'] }))).toBe(
      `def f ( ) ${new Array(16).fill(':').join(' ')} Do it .`,
    );
  });

  it('reads every language of the subset', async () => {
    const root = dataset('codesearchnet');
    const languages = fs.readdirSync(root).filter((name) => fs.existsSync(path.join(root, name, 'final', 'jsonl')));
    expect(languages.length).toBeGreaterThan(0);
    for (const language of languages) {
      const texts = await readCodeCorpus(root, language, 'test');
      expect(texts.length).toBeGreaterThan(0);
      for (const text of texts) expect(text.split(' ').length).toBeGreaterThanOrEqual(23);
    }
  });
});
