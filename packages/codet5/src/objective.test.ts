import * as tf from '@tensorflow/tfjs-core';

import { AdamW, InvalidInputError, createRng, getLogger, initBackend, train } from '@modularevo/core-tensor';
import { codeSearchNetLanguages } from '@modularevo/datasets';
import { MaskScores, maskedLinear, weightRetention, type PretrainedModel } from '@modularevo/masking';
import { dataset, modelFixturesOfType } from '@modularevo/test-support';

import { parseT5Config } from './config';
import { readCodeSearchNetTexts } from './corpus';
import { randomT5Weights } from './init';
import { T5ForConditionalGeneration } from './model';
import { prepareSpanCorruption, spanCorruptionObjective, type SpanCorruptionBatch } from './objective';
import { CodeT5PretrainedModel } from './pretrained-model';
import { noiseCounts, T5_SPAN_CORRUPTION } from './span-corruption';

const [fixture] = modelFixturesOfType('t5');
const BLOCK = 64;
let corpus: string[];

beforeAll(async () => {
  await initBackend();
  const root = dataset('codesearchnet');
  corpus = [];
  for (const language of codeSearchNetLanguages(root)) corpus.push(...(await readCodeSearchNetTexts(root, language)));
});

/** A random CodeT5 with 100 ids above the fixture tokenizer's 1000, where sentinels go. */
function modelWithFreeIds(): CodeT5PretrainedModel {
  const config = parseT5Config(
    { model_type: 't5', vocab_size: 1100, d_model: 16, d_kv: 4, d_ff: 24, num_layers: 1, num_heads: 2, decoder_start_token_id: 0, eos_token_id: 2, dropout_rate: 0 },
    'test',
  );
  return new CodeT5PretrainedModel(T5ForConditionalGeneration.fromStateDict(config, randomT5Weights(config, 3)), fixture.dir);
}

function rows(values: Int32Array, width: number): number[][] {
  return Array.from({ length: values.length / width }, (_, row) => Array.from(values.subarray(row * width, (row + 1) * width)));
}

describe('span-corruption corpus', () => {
  let model: CodeT5PretrainedModel;
  let corpusIds: number[];

  beforeAll(() => {
    model = modelWithFreeIds();
    const tokenizer = model.tokenizer();
    corpusIds = corpus.flatMap((text, i) => [...(i > 0 ? [tokenizer.eosId!] : []), ...tokenizer.encode(text, { addSpecialTokens: false })]);
  });
  afterAll(() => model.dispose());

  it('cuts the corpus into blocks of the block size', () => {
    const prepared = prepareSpanCorruption(model, corpus, { blockSize: BLOCK, batchSize: 4, seed: 1 });
    const { noiseTokens, noiseSpans } = noiseCounts(BLOCK, T5_SPAN_CORRUPTION);
    expect(prepared.numBlocks).toBe(Math.floor(corpusIds.length / BLOCK));
    expect(prepared.tokensPerBatch).toBe(4 * (BLOCK - noiseTokens + noiseSpans + 1 + noiseTokens + noiseSpans + 1));

    const batches = prepared.batches(0);
    expect(batches.reduce((sum, batch) => sum + batch.rows, 0)).toBe(prepared.numBlocks);
    expect(batches[0].inputLength).toBe(BLOCK - noiseTokens + noiseSpans + 1);
    expect(batches[0].targetLength).toBe(noiseTokens + noiseSpans + 1);
  });

  it('gives well-formed pairs that rebuild a block', () => {
    const prepared = prepareSpanCorruption(model, corpus, { blockSize: BLOCK, batchSize: 8, seed: 2 });
    const isSentinel = (id: number) => id >= 1000;
    const seen = new Set<number>();

    for (const batch of prepared.batches(0)) {
      const inputs = rows(batch.inputIds, batch.inputLength);
      const targets = rows(batch.labels, batch.targetLength);
      inputs.forEach((input, row) => {
        const target = targets[row];

        // sentinels count down from the last id, in the same order in both sequences
        const spans = input.filter(isSentinel);
        expect(spans).toEqual(Array.from({ length: spans.length }, (_, i) => 1099 - i));
        expect(target.filter(isSentinel)).toEqual(spans);
        expect(isSentinel(target[0])).toBe(true);
        expect(input[input.length - 1]).toBe(2);
        expect(target[target.length - 1]).toBe(2);

        // filling the sentinels with their spans gives one block of the corpus back
        const fill = new Map<number, number[]>();
        let current: number[] = [];
        for (const id of target.slice(0, -1)) {
          if (isSentinel(id)) fill.set(id, (current = []));
          else current.push(id);
        }
        const block = input.slice(0, -1).flatMap((id) => (isSentinel(id) ? fill.get(id)! : [id]));
        const index = Array.from({ length: prepared.numBlocks }, (_, b) => b).find((b) =>
          block.every((id, i) => id === corpusIds[b * BLOCK + i]),
        );
        expect(index).toBeDefined();
        seen.add(index!);
      });
    }
    expect(seen.size).toBe(prepared.numBlocks);
  });

  it('is reproducible under a seed and new every epoch', () => {
    const first = prepareSpanCorruption(model, corpus, { blockSize: BLOCK, batchSize: 4, seed: 9 });
    const again = prepareSpanCorruption(model, corpus, { blockSize: BLOCK, batchSize: 4, seed: 9 });
    const other = prepareSpanCorruption(model, corpus, { blockSize: BLOCK, batchSize: 4, seed: 10 });
    expect(again.batches(0)).toEqual(first.batches(0));
    expect(first.batches(0)).toEqual(first.batches(0));
    expect(first.batches(1)).not.toEqual(first.batches(0));
    expect(other.batches(0)).not.toEqual(first.batches(0));
  });

  it('caps the number of blocks', () => {
    const prepared = prepareSpanCorruption(model, corpus, { blockSize: BLOCK, batchSize: 4, seed: 1, maxBlocks: 3 });
    expect(prepared.numBlocks).toBe(3);
    expect(prepared.batches(0).map((batch) => batch.rows)).toEqual([3]);
  });

  it.each([
    ['a corpus shorter than a block', { blockSize: 64, batchSize: 2, seed: 0 }, ['x'], 'fewer than one block of 64'],
    ['a block of one token', { blockSize: 1, batchSize: 2, seed: 0 }, undefined, 'at least 2 tokens'],
    ['a zero batch size', { blockSize: 64, batchSize: 0, seed: 0 }, undefined, 'batchSize must be a positive integer'],
    ['a negative seed', { blockSize: 64, batchSize: 2, seed: -1 }, undefined, 'Invalid random seed'],
    ['blocks needing 150 sentinels', { blockSize: 3000, batchSize: 2, seed: 0 }, undefined, 'needs 150 sentinel tokens'],
  ])('rejects %s', (_case, options, texts, message) => {
    expect(() => prepareSpanCorruption(model, texts ?? corpus, options)).toThrow(InvalidInputError);
    expect(() => prepareSpanCorruption(model, texts ?? corpus, options)).toThrow(message);
  });

  it('rejects a model of another architecture', () => {
    const other = { architecture: 'gptneo' } as PretrainedModel;
    expect(() => spanCorruptionObjective.prepare(other, corpus, { blockSize: 64, batchSize: 2, seed: 0 })).toThrow('not a gptneo model');
  });
});

describe('span-corruption on the fixture model', () => {
  let model: CodeT5PretrainedModel;

  beforeAll(() => {
    model = CodeT5PretrainedModel.load(fixture.dir);
  });
  afterAll(() => model.dispose());

  it('warns that the last ids double as sentinels', () => {
    const warn = jest.spyOn(getLogger('codet5'), 'warn').mockImplementation(() => undefined);
    try {
      const prepared = spanCorruptionObjective.prepare(model, corpus, { blockSize: BLOCK, batchSize: 4, seed: 0 });
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0][0])).toContain('no <extra_id_N> tokens');
      const [batch] = prepared.batches(0) as SpanCorruptionBatch[];
      expect(batch.labels[0]).toBe(999);
    } finally {
      warn.mockRestore();
    }
  });

  it('computes a finite loss near uniform for random weights', () => {
    const prepared = spanCorruptionObjective.prepare(model, corpus, { blockSize: BLOCK, batchSize: 4, seed: 0 });
    const loss = tf.tidy(() => spanCorruptionObjective.loss(model, prepared.batches(0)[0]).dataSync()[0]);
    expect(Number.isFinite(loss)).toBe(true);
    expect(loss).toBeGreaterThan(0.5 * Math.log(1000));
    expect(loss).toBeLessThan(2 * Math.log(1000));
  });

  it('trains mask scores end to end with falling loss', async () => {
    const prepared = spanCorruptionObjective.prepare(model, corpus, { blockSize: BLOCK, batchSize: 4, seed: 0, maxBlocks: 4 });
    const [batch] = prepared.batches(0);
    const weightsBefore = model.stateDict();
    const scores = MaskScores.initialize(model.linearLayers(), createRng(0));
    const optimizer = new AdamW(scores.variables(), { lr: 0.05, weightDecay: 0 });
    const losses: number[] = [];
    const retention: number[] = [];

    // the modularizer's loss: the objective under masks plus alpha times the retention rate
    await train({
      maxSteps: 12,
      parameters: scores.variables(),
      optimizer,
      batches: () => [batch],
      lossFn: (b) => {
        const { wrr, lossWrr } = weightRetention(scores);
        retention.push(wrr.dataSync()[0]);
        return tf.add(spanCorruptionObjective.loss(model, b, { linear: maskedLinear(scores) }), lossWrr) as tf.Scalar;
      },
      onStep: ({ loss }) => void losses.push(loss),
      progress: false,
    });

    expect(losses).toHaveLength(12);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[losses.length - 1]).toBeLessThan(losses[0]);
    expect(retention[retention.length - 1]).toBeLessThan(1);
    for (const [name, tensor] of model.stateDict()) expect(Array.from(tensor.data)).toEqual(Array.from(weightsBefore.get(name)!.data));
    optimizer.dispose();
    scores.dispose();
  });
});
