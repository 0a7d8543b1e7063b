import * as fs from 'fs';
import * as path from 'path';

import * as tf from '@tensorflow/tfjs-core';

import { CheckpointError, initBackend, InvalidInputError, MismatchError } from '@modularevo/core-tensor';
import { builtinTask, type ClassificationExample } from '@modularevo/datasets';
import type { PretrainedModel } from '@modularevo/masking';
import { dataset, modelFixturesOfType, temporaryDir } from '@modularevo/test-support';

import { GPTNeoForCausalLM } from './model';
import type { ClassificationBatch, GPTNeoTaskModel } from './task-model';
import { GPTNEO_TASKS } from './tasks';

const [fixture] = modelFixturesOfType('gpt_neo');
const mathqa = GPTNEO_TASKS.mathqa;

// Training runs take several seconds, more on a loaded machine. Run from the repository root,
// Jest ignores the preset's per-project testTimeout and applies its 5 s default.
jest.setTimeout(300_000);

beforeAll(async () => {
  await initBackend();
});

/** Writes `{text, label}` JSON lines per split into a fresh folder and returns it. */
function writeGeneric(splits: Record<string, [string, unknown][]>): string {
  const dir = temporaryDir();
  for (const [split, rows] of Object.entries(splits)) {
    fs.writeFileSync(path.join(dir, `${split}.jsonl`), rows.map(([text, label]) => JSON.stringify({ text, label })).join('\n') + '\n');
  }
  return dir;
}

const SMALL = {
  train: [
    ['def f(x): return x', 'python'],
    ['int main() { return 0; }', 'c'],
    ['print("hi")', 'python'],
  ] as [string, unknown][],
  test: [['puts("x");', 'c']] as [string, unknown][],
};

describe('task data', () => {
  it('reads MathQA with the splits the user names', async () => {
    const data = await mathqa.load({ train: dataset('mathqa', 'dev.json'), validation: dataset('mathqa', 'challenge_test.json'), test: dataset('mathqa', 'test.json') });
    expect(data.task).toBe('mathqa');
    expect(data.labels).toEqual(['gain', 'general', 'geometry', 'other', 'physics', 'probability']);
    expect([data.splits.train!.length, data.splits.validation!.length, data.splits.test!.length]).toEqual([799, 128, 534]);
  });

  it('reads the generic format with labels from the train split', async () => {
    const data = await GPTNEO_TASKS['code-language'].load(writeGeneric(SMALL));
    expect(data.labels).toEqual(['c', 'python']);
    expect(data.splits.train!.map((example) => example.label)).toEqual([1, 0, 1]);
    expect(data.splits.test).toEqual([{ id: 'test-1', text: 'puts("x");', label: 0 }]);
  });

  it('reads the built-in tasks with their label sets', async () => {
    for (const name of ['math-topic', 'license-family', 'code-language', 'langid']) {
      const files = builtinTask(name);
      const data = await GPTNEO_TASKS[name].load(path.dirname(files.files.train));
      expect({ name, labels: data.labels }).toEqual({ name, labels: files.labels });
      expect({ name, test: data.splits.test!.length }).toEqual({ name, test: files.examples.test });
    }
  });

  it('reads the other published formats', async () => {
    const scotus = await GPTNEO_TASKS.scotus.load(dataset('lexglue_scotus', 'scotus.jsonl'));
    expect(scotus.labels).toHaveLength(13);
    const code = await GPTNEO_TASKS.code.load(dataset('rosetta_code'));
    expect(code.labels).toContain('Haskell');
    const langid = await GPTNEO_TASKS.langid.load(dataset('langid_udhr', 'udhr2'));
    expect(langid.labels.length).toBeGreaterThan(10);
  });

  it('rejects a test label outside the train labels', async () => {
    const dir = writeGeneric({ ...SMALL, test: [['x := 1', 'go']] });
    const load = GPTNEO_TASKS['code-language'].load(dir);
    await expect(load).rejects.toThrow(MismatchError);
    await expect(load).rejects.toThrow(`${path.join(dir, 'test.jsonl')} line 1: label "go" in the test split of task code-language is not in the label set of the train split (c, python)`);
  });

  it('rejects a label outside a given label set', async () => {
    const load = mathqa.load({ train: dataset('mathqa', 'dev.json') }, { labels: ['gain', 'general'] });
    await expect(load).rejects.toThrow(MismatchError);
  });

  it('rejects a record without a string label', async () => {
    const dir = writeGeneric({ train: [...SMALL.train, ['x', 3]], test: SMALL.test });
    await expect(GPTNEO_TASKS['code-language'].load(dir)).rejects.toThrow(/train.jsonl: line 4 has no "label" string \(found 3\)/);
  });

  it('rejects data in no format it reads', async () => {
    const dir = writeGeneric({ train: [['x', 1]] });
    const load = GPTNEO_TASKS['math-topic'].load(dir);
    await expect(load).rejects.toThrow(InvalidInputError);
    await expect(load).rejects.toThrow(/reads JSON lines with a "text" and a string "label"/);
  });

  it('samples at most maxExamples per split, fixed by the seed', async () => {
    const source = { train: dataset('mathqa', 'dev.json'), test: dataset('mathqa', 'test.json') };
    const first = await mathqa.load(source, { maxExamples: { train: 50 }, seed: 3 });
    const again = await mathqa.load(source, { maxExamples: { train: 50 }, seed: 3 });
    expect(first.splits.train).toHaveLength(50);
    expect(first.splits.test).toHaveLength(534);
    expect(again.splits.train!.map((example) => example.id)).toEqual(first.splits.train!.map((example) => example.id));
  });
});

describe('task models', () => {
  let data: { labels: string[]; splits: Record<string, ClassificationExample[]> };
  let model: GPTNeoTaskModel;

  beforeAll(async () => {
    data = (await mathqa.load({ train: dataset('mathqa', 'dev.json'), test: dataset('mathqa', 'test.json') }, { maxExamples: { train: 24, test: 10 }, seed: 1 })) as typeof data;
    model = mathqa.createModel(GPTNeoForCausalLM.fromPretrained(fixture.dir), { task: 'mathqa', ...data }, { seed: 7 }) as GPTNeoTaskModel;
  });
  afterAll(() => model.dispose());

  it('pads with EOS and truncates with one warning per split', () => {
    const lines: string[] = [];
    const spy = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: any) => {
      lines.push(String(chunk));
      return true;
    });
    const batches = mathqa.batches(model, data.splits.train, { batchSize: 8, maxLength: 16, split: 'train' });
    mathqa.batches(model, data.splits.train, { batchSize: 8, maxLength: 16, shuffleSeed: 4, split: 'train' });
    spy.mockRestore();

    const warnings = lines.join('').split('\n').filter((line) => line.includes('mathqa/train'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/of 24 texts .* exceed 16 tokens and were truncated/);
    expect(batches.map((batch) => batch.shape)).toEqual([[8, 16], [8, 16], [8, 16]]);
    const eos = model.base.tokenizer().eosId!;
    for (const batch of batches) {
      batch.attentionMask.forEach((mask, i) => {
        if (mask === 0) expect(batch.inputIds[i]).toBe(eos);
      });
    }
    expect(mathqa.tokens(batches[0])).toBe(batches[0].attentionMask.reduce((a, b) => a + b, 0));
  });

  it('shuffles batches with the seed', () => {
    const ids = (seed?: number) => mathqa.batches(model, data.splits.train, { batchSize: 24, maxLength: 8, shuffleSeed: seed })[0].labels.join(',');
    expect(ids(4)).toBe(ids(4));
    expect(ids(4)).not.toBe(ids(5));
    expect(ids(undefined)).toBe(data.splits.train.map((example) => example.label).join(','));
  });

  it('rejects a maxLength beyond the positions', () => {
    expect(() => mathqa.batches(model, data.splits.train, { batchSize: 4, maxLength: 65 })).toThrow(/has 64 positions/);
  });

  it('evaluates accuracy, macro-F1 and loss', async () => {
    const batches = mathqa.batches(model, data.splits.test, { batchSize: 4, maxLength: 32 });
    const metrics = await model.evaluate(batches);
    const predictions = batches.flatMap((batch: ClassificationBatch) =>
      tf.tidy(() => Array.from(tf.argMax(model.classifier.forward({ inputIds: tf.tensor2d(batch.inputIds, batch.shape, 'int32'), attentionMask: tf.tensor2d(batch.attentionMask, batch.shape, 'int32') }), 1).dataSync())),
    );
    const labels = batches.flatMap((batch) => Array.from(batch.labels));
    expect(metrics.examples).toBe(10);
    expect(metrics.accuracy).toBe(predictions.filter((p, i) => p === labels[i]).length / 10);
    expect(metrics['macro-f1']).toBeGreaterThanOrEqual(0);
    expect(metrics.loss).toBeGreaterThan(0);
  });

  it('saves a folder that loads to the same model', async () => {
    const dir = path.join(temporaryDir(), 'mathqa');
    await model.save(dir);
    const loaded = await mathqa.loadModel(dir);
    try {
      const batches = mathqa.batches(model, data.splits.test, { batchSize: 5, maxLength: 32 });
      expect(await loaded.evaluate(batches)).toEqual(await model.evaluate(batches));
      expect(loaded.labels).toEqual(data.labels);
      expect(JSON.parse(fs.readFileSync(path.join(dir, 'task.json'), 'utf8')).task).toBe('mathqa');
      await expect(GPTNEO_TASKS.scotus.loadModel(dir)).rejects.toThrow(CheckpointError);
      await expect(GPTNEO_TASKS.scotus.loadModel(dir)).rejects.toThrow(/was fine-tuned for task mathqa, not scotus/);
    } finally {
      loaded.dispose();
    }
  });

  it('rejects data of another task and a base of another architecture', () => {
    const other = { task: 'scotus', labels: ['1', '2'], splits: {} };
    expect(() => mathqa.createModel(model.base, other, { seed: 1 })).toThrow(/Data of task scotus cannot train a mathqa model/);
    const foreign = { architecture: 'codebert' } as PretrainedModel;
    expect(() => mathqa.createModel(foreign, { task: 'mathqa', labels: ['a', 'b'], splits: {} }, { seed: 1 })).toThrow(/not a codebert model/);
  });
});
