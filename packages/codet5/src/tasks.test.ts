import * as fs from 'fs';
import * as path from 'path';

import * as tf from '@tensorflow/tfjs-core';

import { InvalidInputError, getLogger, initBackend, type LinearFn } from '@modularevo/core-tensor';
import { type GenerationExample } from '@modularevo/datasets';
import { dataset, modelFixturesOfType, temporaryDir } from '@modularevo/test-support';

import { generate } from './generation';
import { denseLinear } from './layers';
import { CodeT5PretrainedModel } from './pretrained-model';
import { CODEBLEU_NOTE, CONCODE_SCORING, SUMMARIZE_SCORING, createConcodeTask, createSummarizeTask, type GenerationTask } from './tasks';
import type { CodeT5TaskModel } from './task-model';

const [fixture] = modelFixturesOfType('t5');
const THE = 392; // "Ġthe" in the fixture vocabulary

beforeAll(async () => {
  await initBackend();
});

/** A linear function whose LM head puts all weight on `token` (or on none), so generation is known in advance. */
function forcedHead(token: number | undefined): LinearFn {
  return (layer, x, weight, bias) => {
    if (layer.name !== 'lm_head') return denseLinear(layer, x, weight, bias);
    const leading = x.shape.slice(0, -1);
    if (token === undefined) return tf.zeros([...leading, layer.outFeatures]);
    return tf.mul(tf.cast(tf.oneHot(tf.fill(leading, token, 'int32'), layer.outFeatures), 'float32'), 10);
  };
}

function examples(...pairs: [string, string][]): GenerationExample[] {
  return pairs.map(([source, target], i) => ({ id: String(i), source, target }));
}

function createModel(task: GenerationTask): CodeT5TaskModel {
  return task.createModel(CodeT5PretrainedModel.load(fixture.dir), { task: task.info.name, labels: [], splits: {} }, { seed: 0 });
}

describe('task data', () => {
  const languages = fs.readdirSync(dataset('code_to_text')).sort();

  it.each(languages)('reads code-to-text %s', async (language) => {
    const data = await createSummarizeTask({ language }).load(dataset('code_to_text', language));
    expect(data.task).toBe('summarize');
    for (const split of ['train', 'validation', 'test'] as const) {
      const [example] = data.splits[split]!;
      expect(example.source.length).toBeGreaterThan(0);
      expect(example.target.length).toBeGreaterThan(0);
      expect(example.source).not.toContain('\n');
    }
  });

  it('reads concode with a seeded cap', async () => {
    const task = createConcodeTask();
    const full = await task.load(dataset('concode'));
    expect(full.splits.validation!.length).toBeGreaterThan(20);
    expect(full.splits.test!.every((example) => example.target === '')).toBe(true);

    const capped = await task.load(dataset('concode'), { maxExamples: { validation: 20 }, seed: 4 });
    const again = await task.load(dataset('concode'), { maxExamples: { validation: 20 }, seed: 4 });
    expect(capped.splits.validation).toHaveLength(20);
    expect(again.splits.validation).toEqual(capped.splits.validation);
    expect(capped.splits.train).toEqual(full.splits.train);
  });

  it('rejects an empty source at load, naming the example', async () => {
    const dir = temporaryDir();
    const record = { idx: 7, code_tokens: [], docstring_tokens: ['Adds', 'numbers'] };
    fs.writeFileSync(path.join(dir, 'train.jsonl'), `${JSON.stringify(record)}\n`);
    const load = createSummarizeTask().load({ train: path.join(dir, 'train.jsonl') });
    await expect(load).rejects.toThrow(InvalidInputError);
    await expect(createSummarizeTask().load({ train: path.join(dir, 'train.jsonl') })).rejects.toThrow('summarize train example "7" has an empty source');
  });
});

describe('task batches', () => {
  const task = createSummarizeTask();
  let model: CodeT5TaskModel;

  beforeAll(() => {
    model = createModel(task);
  });
  afterAll(() => model.dispose());

  it('builds <s> text </s> rows with -100 target padding', () => {
    const [batch] = task.batches(model, examples(['def add ( a , b ) : return a + b', 'Add two numbers .'], ['x = 1', 'Set x']), { batchSize: 2 });
    expect(batch.rows).toBe(2);
    expect(batch.inputIds[0]).toBe(1);
    expect(batch.inputIds[batch.sourceLength - 1]).toBe(2);
    expect(batch.labels[0]).toBe(1);
    expect(Array.from(batch.labels.subarray(batch.targetLength)).includes(-100)).toBe(true);
    const secondLength = batch.attentionMask.subarray(batch.sourceLength).reduce((a, b) => a + b, 0);
    expect(batch.inputIds[batch.sourceLength + secondLength - 1]).toBe(2);
    expect(task.tokens(batch)).toBe(
      Array.from(batch.attentionMask).reduce((a, b) => a + b, 0) + Array.from(batch.labels).filter((id) => id !== -100).length,
    );
  });

  it('replaces a literal end token in the text', () => {
    const [batch] = task.batches(model, examples(['a </s> b', 'c']), { batchSize: 1 });
    expect(Array.from(batch.inputIds.subarray(1, batch.sourceLength - 1))).not.toContain(2);
  });

  it('truncates long sources and targets with one warning each', () => {
    const warn = jest.spyOn(getLogger('codet5'), 'warn').mockImplementation(() => undefined);
    try {
      const long = 'def f ( ) : return ' + Array.from({ length: 40 }, (_, i) => `x${i}`).join(' + ');
      const batches = task.batches(model, examples([long, long], [long, 'short'], ['ok', 'ok']), { batchSize: 2, maxLength: 16, maxTargetLength: 8 });
      expect(batches[0].sourceLength).toBe(16);
      expect(batches[0].targetLength).toBe(8);
      expect(batches[0].inputIds[15]).toBe(2);
      expect(batches[0].labels[7]).toBe(2);

      expect(warn).toHaveBeenCalledTimes(2);
      expect(String(warn.mock.calls[0][0])).toContain('2 of 3 sources are longer than maxSourceLength 16');
      expect(String(warn.mock.calls[0][0])).toContain('first: example "0"');
      expect(String(warn.mock.calls[1][0])).toContain('1 of 3 targets are longer than maxTargetLength 8');
    } finally {
      warn.mockRestore();
    }
  });

  it('rejects an overlong target under the error policy', () => {
    const long = Array.from({ length: 40 }, (_, i) => `word${i}`).join(' ');
    const run = () => task.batches(model, examples(['def f ( ) : pass', 'ok'], ['def g ( ) : pass', long]), { batchSize: 2, maxTargetLength: 8, overlength: 'error' });
    expect(run).toThrow(InvalidInputError);
    expect(run).toThrow(/summarize example "1": the target has \d+ tokens, more than maxTargetLength 8/);
  });

  it('rejects an empty source, naming the example', () => {
    const run = () => task.batches(model, examples(['def f ( ) : pass', 'ok'], ['   ', 'Empty']), { batchSize: 2 });
    expect(run).toThrow(InvalidInputError);
    expect(run).toThrow('summarize example "1" has an empty source');
  });

  it('rejects beam size 0', async () => {
    expect(() => createSummarizeTask({ numBeams: 0 })).toThrow('numBeams must be a positive integer (1 for greedy search), not 0');
    const batches = task.batches(model, examples(['def f ( ) : pass', 'ok']), { batchSize: 1 });
    await expect(model.evaluate(batches, { numBeams: 0, progress: false })).rejects.toThrow(InvalidInputError);
    await expect(model.evaluate(batches, { numBeams: 0, progress: false })).rejects.toThrow('numBeams must be a positive integer');
  });

  it('rejects limits below three tokens', () => {
    expect(() => createConcodeTask({ maxTargetLength: 2 })).toThrow('maxTargetLength must be an integer of at least 3');
  });
});

describe('generation scoring', () => {
  it('scores summarize as smoothed sentence BLEU-4', () => {
    const scores = SUMMARIZE_SCORING.score(['', 'returns the', 'Add two numbers.'], ['returns the sum', 'returns the sum', 'add two numbers .']);

    // empty: every order 0, brevity 1 - (3 + 1) / (0 + 1) = -3
    // "returns the": orders 1-4 all match or have no candidates, brevity 1 - 4 / 3
    // "Add two numbers.": identical after lower-casing and splitting the period
    const expected = (100 * (Math.exp(-3) + Math.exp(1 - 4 / 3) + 1)) / 3;
    expect(scores['smooth-bleu']).toBeCloseTo(expected, 10);
    expect(scores['exact-match']).toBe(0);
  });

  it('scores concode as corpus BLEU-4', () => {
    const scores = CONCODE_SCORING.score(['', 'a b'], ['a b c d', 'a b']);

    // matches 2/2, 1/1, 0/0, 0/0 smoothed to 1 each; length ratio 2 / 6 gives exp(1 - 3)
    expect(scores.bleu).toBeCloseTo(100 * Math.exp(-2), 10);
    expect(scores['exact-match']).toBe(50);
  });
});

describe.each([
  ['summarize', () => createSummarizeTask({ maxTargetLength: 4 })],
  ['concode', () => createConcodeTask({ maxTargetLength: 4 })],
])('%s evaluation wiring', (name, makeTask) => {
  const task = makeTask();
  let model: CodeT5TaskModel;
  const data = examples(['def f ( ) : return 1', 'the the the'], ['def g ( x ) : return x', 'return the value']);

  beforeAll(() => {
    model = createModel(task);
  });
  afterAll(() => model.dispose());

  it('decodes forced tokens and scores them', async () => {
    const batches = task.batches(model, data, { batchSize: 2 });
    const metrics = await model.evaluate(batches, { linear: forcedHead(THE), progress: false });
    const predictions = await model.predict(batches, { linear: forcedHead(THE), progress: false });
    expect(predictions.map((p) => p.prediction)).toEqual(['the the the', 'the the the']);

    if (name === 'summarize') {
      // "the the the" against itself is 100; against "return the value": unigrams 1/3,
      // bigrams (0 + 1) / (2 + 1), trigrams (0 + 1) / (1 + 1), 4-grams none, no brevity penalty
      const second = Math.exp((2 * Math.log(1 / 3) + Math.log(1 / 2)) / 4);
      expect(metrics['smooth-bleu']).toBeCloseTo((100 * (1 + second)) / 2, 10);
    } else {
      // corpus counts: unigrams 4/6, bigrams 2/4, trigrams 1/2, 4-grams 0/0, smoothed by +1
      const bleu = Math.exp((Math.log(5 / 7) + Math.log(3 / 5) + Math.log(2 / 3) + Math.log(1)) / 4);
      expect(metrics.bleu).toBeCloseTo(100 * bleu, 10);
    }
    expect(metrics['exact-match']).toBe(50);
  });

  it('scores empty hypotheses', async () => {
    const batches = task.batches(model, data, { batchSize: 1 });
    const metrics = await model.evaluate(batches, { linear: forcedHead(undefined), progress: false });
    if (name === 'summarize') {
      // an empty hypothesis scores exp(-reference length): 3 tokens each
      expect(metrics['smooth-bleu']).toBeCloseTo(100 * Math.exp(-3), 10);
    } else {
      expect(metrics.bleu).toBe(0);
    }
    expect(metrics['exact-match']).toBe(0);
  });

  it('scores what generate produces, decoded without special tokens', async () => {
    const batches = task.batches(model, data, { batchSize: 2 });
    const metrics = await model.evaluate(batches, { progress: false });

    const tokenizer = model.base.tokenizer();
    const rows = Array.from({ length: 2 }, (_, row) => Array.from(batches[0].inputIds.subarray(row * batches[0].sourceLength, (row + 1) * batches[0].sourceLength)));
    const { sequences } = generate(model.base.t5, rows, { maxLength: 4, earlyStopping: name === 'summarize' });
    const decoded = sequences.map((ids) => tokenizer.decode(ids, { skipSpecialTokens: true, cleanUpTokenizationSpaces: false }).trim());
    const expected = (name === 'summarize' ? SUMMARIZE_SCORING : CONCODE_SCORING).score(decoded, data.map((example) => example.target));
    expect(metrics).toEqual(expected);
  });

  it('writes predictions next to the references', async () => {
    const dir = path.join(temporaryDir(), 'predictions');
    const batches = task.batches(model, data, { batchSize: 2 });
    await model.evaluate(batches, { linear: forcedHead(THE), predictionsDir: dir, split: 'validation', progress: false });

    const read = (suffix: string) => fs.readFileSync(path.join(dir, `validation.${suffix}`), 'utf8');
    if (name === 'summarize') {
      expect(read('output')).toBe('0\tthe the the\n1\tthe the the\n');
      expect(read('gold')).toBe('0\tthe the the\n1\treturn the value\n');
      expect(read('src')).toBe('0\tdef f ( ) : return 1\n1\tdef g ( x ) : return x\n');
    } else {
      expect(read('output')).toBe('the the the\nthe the the\n');
      expect(read('gold')).toBe('the the the\nreturn the value\n');
    }
  });

  it('rejects scoring without references', async () => {
    const batches = task.batches(model, examples(['def f ( ) : return 1', '']), { batchSize: 1 });
    await expect(model.evaluate(batches, { split: 'test', progress: false })).rejects.toThrow('use predict() to write predictions only');
    const predictions = await model.predict(batches, { progress: false });
    expect(predictions).toHaveLength(1);
  });
});

describe('concode evaluation note', () => {
  it('says CodeBLEU is not computed', async () => {
    const task = createConcodeTask({ maxTargetLength: 3 });
    const model = createModel(task);
    const info = jest.spyOn(getLogger('codet5'), 'info').mockImplementation(() => undefined);
    try {
      await model.evaluate(task.batches(model, examples(['a', 'b']), { batchSize: 1 }), { progress: false });
      expect(info.mock.calls.map((call) => String(call[0]))).toContain(`concode: ${CODEBLEU_NOTE}`);
    } finally {
      info.mockRestore();
      model.dispose();
    }
  });
});
