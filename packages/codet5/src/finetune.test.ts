/**
 * End-to-end fine-tuning on the real CodeXGLUE subsets: full and mask-guided training through
 * the core training loop, then generation-based evaluation that writes prediction files.
 */
import * as fs from 'fs';
import * as path from 'path';

import * as tf from '@tensorflow/tfjs-core';

import { AdamW, createRng, initBackend, train, type StateDict } from '@modularevo/core-tensor';
import { MaskScores, assertMaskedOutUnchanged, describeBaseModel, moduleFromScores, moduleGradientMasks } from '@modularevo/masking';
import { dataset, modelFixturesOfType, temporaryDir } from '@modularevo/test-support';

import { CodeT5PretrainedModel } from './pretrained-model';
import type { Seq2SeqBatch } from './seq2seq-batches';
import { createConcodeTask, createSummarizeTask, type GenerationTask } from './tasks';
import type { CodeT5TaskModel } from './task-model';

const [fixture] = modelFixturesOfType('t5');

beforeAll(async () => {
  await initBackend();
});

/** Trains every parameter for `steps` steps and returns the loss of each step. */
async function fineTune(task: GenerationTask, model: CodeT5TaskModel, batches: Seq2SeqBatch[], steps: number, gradientMasks?: Map<string, tf.Tensor>): Promise<number[]> {
  const parameters = [...model.base.params.values()];
  const optimizer = new AdamW(parameters, { lr: 1e-2, weightDecay: 0 });
  const losses: number[] = [];
  try {
    await train({
      maxSteps: steps,
      parameters,
      optimizer,
      batches: () => batches,
      lossFn: (batch) => model.loss(batch),
      countTokens: (batch) => task.tokens(batch),
      gradientMasks,
      onStep: ({ loss }) => void losses.push(loss),
      progress: false,
    });
  } finally {
    optimizer.dispose();
  }
  return losses;
}

/** Checks that the loss of one fixed batch fell at every step and by at least 0.5 nats overall. */
function expectFallingLoss(losses: number[]): void {
  losses.slice(1).forEach((loss, i) => expect(loss).toBeLessThan(losses[i]));
  expect(losses[losses.length - 1]).toBeLessThan(losses[0] - 0.5);
}

function lines(file: string): string[] {
  return fs.readFileSync(file, 'utf8').split('\n').slice(0, -1);
}

describe('summarize fine-tuning on code-to-text', () => {
  const task = createSummarizeTask({ language: 'python', maxSourceLength: 64, maxTargetLength: 24 });
  let model: CodeT5TaskModel;

  beforeAll(() => {
    model = task.createModel(CodeT5PretrainedModel.load(fixture.dir), { task: 'summarize', labels: [], splits: {} }, { seed: 0 });
  });
  afterAll(() => model.dispose());

  it('lowers the loss and writes predictions', async () => {
    const data = await task.load(dataset('code_to_text', 'python'));
    const trainBatches = task.batches(model, data.splits.train!, { batchSize: 4, shuffleSeed: 0 });
    const losses = await fineTune(task, model, trainBatches, 8);
    expectFallingLoss(losses);

    const runDir = temporaryDir();
    for (const split of ['validation', 'test'] as const) {
      const examples = data.splits[split]!;
      const metrics = await model.evaluate(task.batches(model, examples, { batchSize: 4 }), { predictionsDir: path.join(runDir, 'predictions'), split, progress: false });
      expect(metrics['smooth-bleu']).toBeGreaterThanOrEqual(0);
      expect(metrics['smooth-bleu']).toBeLessThanOrEqual(100);

      const output = lines(path.join(runDir, 'predictions', `${split}.output`));
      const gold = lines(path.join(runDir, 'predictions', `${split}.gold`));
      expect(output).toHaveLength(examples.length);
      expect(gold).toEqual(examples.map((example) => `${example.id}\t${example.target}`));
      expect(output.map((line) => line.split('\t')[0])).toEqual(examples.map((example) => example.id));
    }
  });
});

describe('concode fine-tuning', () => {
  const task = createConcodeTask({ maxSourceLength: 96, maxTargetLength: 24 });
  let model: CodeT5TaskModel;

  beforeAll(() => {
    model = task.createModel(CodeT5PretrainedModel.load(fixture.dir), { task: 'concode', labels: [], splits: {} }, { seed: 0 });
  });
  afterAll(() => model.dispose());

  it('lowers the loss, scores dev and predicts the withheld test split', async () => {
    const data = await task.load(dataset('concode'), { maxExamples: { validation: 6, test: 3 }, seed: 1 });
    const losses = await fineTune(task, model, task.batches(model, data.splits.train!, { batchSize: 5 }), 8);
    expectFallingLoss(losses);

    const dir = path.join(temporaryDir(), 'predictions');
    const metrics = await model.evaluate(task.batches(model, data.splits.validation!, { batchSize: 3 }), { predictionsDir: dir, split: 'validation', progress: false });
    expect(Object.keys(metrics).sort()).toEqual(['bleu', 'exact-match']);
    expect(lines(path.join(dir, 'validation.gold'))).toEqual(data.splits.validation!.map((example) => example.target));
    expect(lines(path.join(dir, 'validation.output'))).toHaveLength(6);

    const testBatches = task.batches(model, data.splits.test!, { batchSize: 3 });
    await expect(model.evaluate(testBatches, { split: 'test', progress: false })).rejects.toThrow('withholds its code');
    await model.predict(testBatches, { predictionsDir: dir, split: 'test', progress: false });
    expect(lines(path.join(dir, 'test.output'))).toHaveLength(3);
  });
});

describe('mask-guided fine-tuning and task model files', () => {
  const task = createSummarizeTask({ language: 'java', maxSourceLength: 64, maxTargetLength: 24 });

  it('moves only the module entries and round-trips through save', async () => {
    const base = CodeT5PretrainedModel.load(fixture.dir);
    const model = task.createModel(base, { task: 'summarize', labels: [], splits: {} }, { seed: 0 });
    const before: StateDict = base.stateDict();

    // a module keeping about half of every linear weight
    const layers = base.linearLayers();
    const values: StateDict = new Map();
    const rng = createRng(5);
    for (const layer of layers) {
      const data = rng.fillUniform(new Float32Array(layer.outFeatures * layer.inFeatures), -1, 1);
      values.set(layer.weight, { dtype: 'F32', shape: [layer.outFeatures, layer.inFeatures], data });
    }
    const scores = MaskScores.fromValues(layers, values);
    const identity = describeBaseModel(base.configJson, before);
    const module = await moduleFromScores(scores, { base: { ...identity, parameterShapes: new Map(layers.map((l) => [l.weight, [l.outFeatures, l.inFeatures]])) }, domain: 'java' });
    scores.dispose();

    // gradient masks by variable name; the tied lm_head mask has no variable of its own
    const byName = moduleGradientMasks(module, base.params.keys());
    const gradientMasks = new Map([...byName].map(([name, mask]) => [base.params.get(name)!.name, mask]));
    expect(byName.has('lm_head.weight')).toBe(false);

    try {
      const data = await task.load(dataset('code_to_text', 'java'));
      const losses = await fineTune(task, model, task.batches(model, data.splits.train!, { batchSize: 1 }), 6, gradientMasks);
      expect(losses[losses.length - 1]).toBeLessThan(losses[0]);
      const report = assertMaskedOutUnchanged(before, base.stateDict(), module);
      expect(report.changed).toBeGreaterThan(0);
      expect(report.maskedOutChanged).toBe(0);

      // save and load back as the task
      const dir = path.join(temporaryDir(), 'summarize-java');
      await model.save(dir);
      const loaded = await task.loadModel(dir);
      try {
        expect(loaded.settings).toEqual(model.settings);
        for (const [name, tensor] of loaded.base.stateDict()) expect(Array.from(tensor.data)).toEqual(Array.from(base.stateDict().get(name)!.data));
        await expect(createConcodeTask().loadModel(dir)).rejects.toThrow('belongs to task "summarize", not concode');
      } finally {
        loaded.dispose();
      }
    } finally {
      tf.dispose([...gradientMasks.values()]);
      model.dispose();
    }
  });
});
