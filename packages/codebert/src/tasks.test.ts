import * as fs from 'fs';
import * as path from 'path';

import * as tf from '@tensorflow/tfjs-core';

import { CheckpointError, getLogger, initBackend } from '@modularevo/core-tensor';
import type { PairExample } from '@modularevo/datasets';
import { dataset, modelFixturesOfType, temporaryDir } from '@modularevo/test-support';

import { writeBigCloneBench } from '../test/bigclonebench';
import { architecture } from './architecture';
import { CloneDetectionModel, cloneTask, collapseWhitespace } from './clone';
import { TASK_HEAD_PATTERN } from './heads';
import { CodeBertModel } from './model';
import { CodeSearchModel, searchTask } from './search';
import { scoreBinaryPredictions } from './task-model';

function fixtureOfClass(architectureName: string): string {
  const found = modelFixturesOfType('roberta').find(({ dir }) => JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')).architectures?.[0] === architectureName);
  if (!found) throw new Error(`No RoBERTa model fixture with architectures ["${architectureName}"]`);
  return found.dir;
}

const mlmDir = fixtureOfClass('RobertaForMaskedLM');
const baseDir = fixtureOfClass('RobertaModel');

beforeAll(async () => {
  await initBackend();
});

describe('scoreBinaryPredictions', () => {
  // 10 examples: TP 3, FP 2, FN 1, TN 4
  const labels = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0];
  const predictions = [1, 1, 1, 0, 1, 1, 0, 0, 0, 0];

  it.each([
    ['accuracy', 7 / 10],
    ['precision', 3 / 5],
    ['recall', 3 / 4],
    ['f1', (2 * (3 / 5) * (3 / 4)) / (3 / 5 + 3 / 4)],
  ])('computes %s', (metric, expected) => {
    expect(scoreBinaryPredictions(predictions, labels)[metric]).toBeCloseTo(expected, 12);
  });

  it('gives 0 F1 without positive predictions', () => {
    expect(scoreBinaryPredictions([0, 0, 0], [1, 0, 0])).toEqual({ accuracy: 2 / 3, precision: 0, recall: 0, f1: 0 });
  });
});

describe('task heads', () => {
  const pattern = new RegExp(`^${TASK_HEAD_PATTERN}$`);

  it('match the task-head pattern', () => {
    const base = CodeBertModel.fromPretrained(baseDir);
    const data = { task: 'clone', labels: ['0', '1'], splits: {} };
    const clone = cloneTask.createModel(base, data, { seed: 1 });
    const search = searchTask.createModel(base, data, { seed: 1 });
    try {
      expect([...clone.head.keys()]).toEqual(['classifier.dense.weight', 'classifier.dense.bias', 'classifier.out_proj.weight', 'classifier.out_proj.bias']);
      expect([...search.head.keys()]).toEqual(['mlp.0.weight', 'mlp.0.bias', 'mlp.2.weight', 'mlp.2.bias']);
      for (const name of [...clone.head.keys(), ...search.head.keys()]) expect(name).toMatch(pattern);
      for (const name of base.params.keys()) expect(name).not.toMatch(pattern);
      expect(architecture.taskHeadPattern).toBe(TASK_HEAD_PATTERN);
    } finally {
      base.dispose();
      for (const variable of [...clone.head.values(), ...search.head.values()]) variable.dispose();
    }
  });
});

describe('clone task', () => {
  let dir: string;
  let model: CloneDetectionModel;

  beforeAll(async () => {
    dir = path.join(temporaryDir(), 'bigclonebench');
    writeBigCloneBench(dir, 5, { train: 20, validation: 8, test: 10 });
    const data = await cloneTask.load(dir);
    model = cloneTask.createModel(CodeBertModel.fromPretrained(mlmDir), data, { seed: 2 }) as CloneDetectionModel;
  });

  afterAll(() => model.dispose());

  it('reads the CodeXGLUE layout', async () => {
    const data = await cloneTask.load(dir);
    expect(data.labels).toEqual(['0', '1']);
    expect(data.splits.train!.length).toBe(20);
    expect(data.splits.validation!.length).toBe(8);
    expect(data.splits.test!.length).toBe(10);
    expect(data.splits.test!.map((example) => cloneTask.labelOf(example))).toEqual(data.splits.test!.map((example) => example.label));
  });

  it('names a pair with an unknown idx', async () => {
    const broken = path.join(temporaryDir(), 'broken');
    fs.mkdirSync(broken);
    fs.copyFileSync(path.join(dir, 'data.jsonl'), path.join(broken, 'data.jsonl'));
    fs.writeFileSync(path.join(broken, 'train.txt'), '1000\t1001\t1\n1000\t99999\t0\n');

    await expect(cloneTask.load(broken)).rejects.toThrow(CheckpointError);
    await expect(cloneTask.load(broken)).rejects.toThrow(/train\.txt: line 2 names idx 99999, which is not in .*data\.jsonl/);
  });

  it('collapses whitespace as CodeXGLUE', () => {
    expect(collapseWhitespace('int  f()\n{\treturn 1; }\n')).toBe('int f() { return 1; }');
  });

  it('truncates functions to the model positions with a warning', async () => {
    const data = await cloneTask.load(dir);
    const warn = jest.spyOn(getLogger('datasets'), 'warn');
    const batches = cloneTask.batches(model, data.splits.train!, { batchSize: 4 });
    expect(model.maxLength).toBe(38);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0][0])).toMatch(/clone functions: \d+ of \d+ texts .* exceed 38 tokens and were truncated/);
    warn.mockRestore();

    for (const batch of batches) {
      expect(batch.inputIds.length).toBe(2 * batch.labels.length);
      for (const row of batch.inputIds) expect(row.length).toBeLessThanOrEqual(38);
    }
    expect(batches.flatMap((batch) => batch.labels)).toEqual(data.splits.train!.map((example) => example.label));
  });

  it('evaluates predictions into metrics', async () => {
    const data = await cloneTask.load(dir);
    const batches = cloneTask.batches(model, data.splits.test!, { batchSize: 4 });
    const labels = data.splits.test!.map((example) => example.label);

    // out_proj with zero weights and bias [0, 1] predicts "clone" for every pair
    const saved = [model.head.get('classifier.out_proj.weight')!.clone(), model.head.get('classifier.out_proj.bias')!.clone()];
    model.head.get('classifier.out_proj.weight')!.assign(tf.zerosLike(saved[0]));
    model.head.get('classifier.out_proj.bias')!.assign(tf.tensor1d([0, 1]));
    const metrics = await model.evaluate(batches);
    model.head.get('classifier.out_proj.weight')!.assign(saved[0]);
    model.head.get('classifier.out_proj.bias')!.assign(saved[1]);
    tf.dispose(saved);

    const clones = labels.filter((label) => label === 1).length;
    expect(metrics.accuracy).toBeCloseTo(clones / labels.length, 12);
    expect(metrics.precision).toBeCloseTo(clones / labels.length, 12);
    expect(metrics.recall).toBe(1);
    expect(metrics).toEqual(scoreBinaryPredictions(new Array(labels.length).fill(1), labels));
  });

  it('saves and loads the fine-tuned model', async () => {
    const data = await cloneTask.load(dir);
    const batches = cloneTask.batches(model, data.splits.test!, { batchSize: 5 });
    const out = path.join(temporaryDir(), 'clone-model');
    await model.save(out);

    const loaded = (await cloneTask.loadModel(out)) as CloneDetectionModel;
    try {
      expect(JSON.parse(fs.readFileSync(path.join(out, 'task.json'), 'utf8'))).toEqual({ task: 'clone', labels: ['0', '1'], maxLength: 38, freshPooler: true });
      expect(loaded.base.freshPooler).toBe(true);
      const before = tf.tidy(() => Array.from(model.logits(batches[0]).dataSync()));
      const after = tf.tidy(() => Array.from(loaded.logits(batches[0]).dataSync()));
      expect(after).toEqual(before);
      await expect(searchTask.loadModel(out)).rejects.toThrow(/names task "clone", expected "search"/);
    } finally {
      loaded.dispose();
    }
  });
});

describe('search task', () => {
  it('splits a single CoSQA file by code', async () => {
    const data = await searchTask.load(dataset('cosqa'));
    const splits = (['train', 'validation', 'test'] as const).map((split) => data.splits[split] ?? []);
    const codeSplits = new Map<string, Set<number>>();
    splits.forEach((examples, index) => examples.forEach((example) => (codeSplits.get(example.textPair) ?? codeSplits.set(example.textPair, new Set()).get(example.textPair)!).add(index)));

    expect(splits.every((examples) => examples.length > 0)).toBe(true);
    expect([...codeSplits.values()].every((inSplits) => inSplits.size === 1)).toBe(true);
    expect(await searchTask.load(dataset('cosqa'))).toEqual(data);
  });

  it('names a record without code', async () => {
    const file = path.join(temporaryDir(), 'cosqa-dev.json');
    fs.writeFileSync(file, JSON.stringify([{ idx: 'q-0', doc: 'sort a list', code: 'def f(x): return sorted(x)', label: 1 }, { idx: 'q-1', doc: 'reverse a list', label: 0 }]));
    await expect(searchTask.load({ validation: file })).rejects.toThrow(CheckpointError);
    await expect(searchTask.load({ validation: file })).rejects.toThrow(/cosqa-dev\.json: line 2 has no "code" field/);
  });

  it('batches queries and code separately', async () => {
    const model = searchTask.createModel(CodeBertModel.fromPretrained(baseDir), { task: 'search', labels: ['0', '1'], splits: {} }, { seed: 3 }) as CodeSearchModel;
    try {
      const examples: PairExample[] = [
        { id: 'a', text: 'sort a list', textPair: 'def sort_list(x):\n    return sorted(x)', label: 1 },
        { id: 'b', text: 'open a file', textPair: 'def total(values):\n    return sum(values)', label: 0 },
        { id: 'c', text: 'python add numbers', textPair: 'def add(a, b):\n    return a + b', label: 1 },
      ];
      const [batch, rest] = searchTask.batches(model, examples, { batchSize: 2 });
      expect(batch.labels).toEqual([1, 0]);
      expect(rest.labels).toEqual([1]);
      expect(batch.query.inputIds.length).toBe(2);
      expect(batch.code.inputIds[0][0]).toBe(0);
      expect(searchTask.tokens(batch)).toBe(batch.query.attentionMask.flat().reduce((a, b) => a + b, 0) + batch.code.attentionMask.flat().reduce((a, b) => a + b, 0));

      const loss = tf.tidy(() => model.loss(batch).dataSync()[0]);
      const probabilities = tf.tidy(() => Array.from(tf.sigmoid(model.logits(batch)).dataSync()));
      const expected = -(Math.log(probabilities[0]) + Math.log(1 - probabilities[1])) / 2;
      expect(loss).toBeCloseTo(expected, 5);
      expect(Array.from(model.predictBatch(batch))).toEqual(probabilities.map((p) => (p > 0.5 ? 1 : 0)));
    } finally {
      model.dispose();
    }
  });
});
