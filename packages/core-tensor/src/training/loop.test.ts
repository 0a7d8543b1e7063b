import * as fs from 'fs';
import * as path from 'path';

import * as tf from '@tensorflow/tfjs-core';

import { temporaryDir } from '@modularevo/test-support';

import { initBackend } from '../backend';
import { CheckpointError, InvalidInputError } from '../errors';
import { setLogLevel } from '../log';
import { AdamW } from './adamw';
import { TrainingDivergedError } from './errors';
import { evaluateLoss } from './evaluate';
import { train } from './loop';
import type { TrainOptions } from './loop-options';
import { readMetrics } from './metrics';
import { linearScheduleWithWarmup } from './schedule';
import { TRUE_BIAS, TRUE_WEIGHT, linearRegression, type Batch, type Problem } from './__tests__/linear-regression';

const problems: Problem[] = [];
const optimizers: AdamW[] = [];

function setUp(options: Parameters<typeof linearRegression>[0] = {}, adamw: ConstructorParameters<typeof AdamW>[1] = {}) {
  const problem = linearRegression(options);
  const optimizer = new AdamW([problem.weight, problem.bias], { lr: 0.05, weightDecay: 0, ...adamw });
  problems.push(problem);
  optimizers.push(optimizer);
  const base: TrainOptions<Batch> = {
    batches: problem.batches,
    lossFn: problem.lossFn,
    parameters: [problem.weight, problem.bias],
    optimizer,
    progress: false,
  };
  return { problem, optimizer, base };
}

function values(variable: tf.Variable): number[] {
  return Array.from(variable.dataSync());
}

function maxAbsDiff(a: number[], b: number[]): number {
  return Math.max(...a.map((value, i) => Math.abs(value - b[i])));
}

beforeAll(async () => {
  await initBackend();
  setLogLevel('warn');
});

afterAll(() => {
  setLogLevel('info');
});

afterEach(() => {
  for (const optimizer of optimizers.splice(0)) optimizer.dispose();
  for (const problem of problems.splice(0)) problem.dispose();
});

describe('train', () => {
  it('fits a linear regression', async () => {
    const { problem, base } = setUp();

    const summary = await train({ ...base, maxSteps: 200 });

    const final = await evaluateLoss(problem.batches(0), problem.lossFn);
    expect(final.loss).toBeLessThan(1e-4);
    expect(maxAbsDiff(values(problem.weight), TRUE_WEIGHT)).toBeLessThan(0.01);
    expect(Math.abs(values(problem.bias)[0] - TRUE_BIAS)).toBeLessThan(0.01);
    expect(summary.steps).toBe(200);
    expect(summary.stopReason).toBe('max_steps');
    expect(summary.epoch).toBe(24); // 8 batches per epoch: step 200 ends epoch 24
  });

  it('stops after the requested epochs', async () => {
    const { base } = setUp();

    const summary = await train({ ...base, epochs: 3, gradientAccumulationSteps: 3 });

    // 8 batches in groups of 3: steps of 3, 3 and a partial 2 per epoch
    expect(summary.steps).toBe(9);
    expect(summary.stopReason).toBe('epochs');
  });

  it.each([
    // [case, samples, large batch size, micro-batch size, accumulation, steps or epochs]
    ['full windows', 64, 8, 4, 2, { maxSteps: 12 }],
    ['a partial window at the end of each epoch', 24, 16, 8, 2, { epochs: 3 }],
  ] as const)('accumulation with %s matches large batches', async (_case, samples, large, micro, accumulation, length) => {
    // Adam's update hardly depends on the gradient's scale, so a large eps (and no clipping)
    // makes a wrongly scaled mean gradient visible.
    const adamw = { eps: 1, lr: 0.5 };
    const single = setUp({ samples, batchSize: large }, adamw);
    const accumulated = setUp({ samples, batchSize: micro }, adamw);

    await train({ ...single.base, ...length, maxGradNorm: 0 });
    await train({ ...accumulated.base, ...length, maxGradNorm: 0, gradientAccumulationSteps: accumulation });

    expect(maxAbsDiff(values(accumulated.problem.weight), values(single.problem.weight))).toBeLessThan(1e-6);
    expect(maxAbsDiff(values(accumulated.problem.bias), values(single.problem.bias))).toBeLessThan(1e-6);
    // and the runs did move the parameters
    expect(maxAbsDiff(values(single.problem.weight), [0, 0, 0])).toBeGreaterThan(0.1);
  });

  it('stops early after the patience and reports the best step', async () => {
    const { base } = setUp();
    const scores = [1.0, 0.5, 0.6, 0.7, 0.4];
    const best: number[] = [];

    const summary = await train({
      ...base,
      maxSteps: 10,
      evaluate: () => ({ loss: scores.shift()! }),
      evalEvery: 1,
      earlyStoppingPatience: 2,
      onBest: ({ step }) => {
        best.push(step);
      },
    });

    expect(summary.stopReason).toBe('early_stopping');
    expect(summary.steps).toBe(4);
    expect(summary.bestMetric).toBe(0.5);
    expect(summary.bestStep).toBe(2);
    expect(best).toEqual([1, 2]);
  });

  it('maximizes a metric that is not a loss', async () => {
    const { base } = setUp();
    const scores = [0.2, 0.9, 0.5];

    const summary = await train({
      ...base,
      maxSteps: 3,
      evaluate: () => ({ accuracy: scores.shift()! }),
      evalEvery: 1,
      primaryMetric: 'eval_accuracy',
    });

    expect(summary.bestMetric).toBe(0.9);
    expect(summary.bestStep).toBe(2);
  });

  it('writes metrics.jsonl lines', async () => {
    const { problem, base } = setUp();
    const runDir = temporaryDir();

    await train({
      ...base,
      maxSteps: 20,
      logEvery: 5,
      evalEvery: 10,
      evaluate: async () => ({ loss: (await evaluateLoss(problem.batches(0), problem.lossFn)).loss }),
      runDir,
    });

    const records = readMetrics(path.join(runDir, 'metrics.jsonl'));
    const training = records.filter((record) => 'loss' in record);
    const evaluation = records.filter((record) => 'eval_loss' in record);
    expect(training.map((record) => record.step)).toEqual([5, 10, 15, 20]);
    expect(evaluation.map((record) => record.step)).toEqual([10, 20]);
    for (const record of training) {
      expect(Object.keys(record)).toEqual(['step', 'epoch', 'time', 'loss', 'learning_rate', 'grad_norm']);
      expect(record.learning_rate).toBe(0.05);
      expect(Math.abs(record.time - Date.now() / 1000)).toBeLessThan(60);
    }
    expect(training[3].loss as number).toBeLessThan(training[0].loss as number);
  });

  it('takes no step at warm-up factor 0', async () => {
    const { problem, base } = setUp({}, { weightDecay: 0.1 });
    const runDir = temporaryDir();

    await train({ ...base, maxSteps: 1, schedule: linearScheduleWithWarmup(2, 4), logEvery: 1, runDir });

    // the first warm-up step has factor 0, so nothing moves, weight decay included
    expect(values(problem.weight)).toEqual([0, 0, 0]);
    expect(values(problem.bias)).toEqual([0]);
    expect(readMetrics(path.join(runDir, 'metrics.jsonl')).map((record) => record.learning_rate)).toEqual([0]);
  });

  it('logs the scheduled learning rate of each step', async () => {
    const { base } = setUp();
    const runDir = temporaryDir();

    await train({ ...base, maxSteps: 4, schedule: linearScheduleWithWarmup(2, 4), logEvery: 1, runDir });

    const rates = readMetrics(path.join(runDir, 'metrics.jsonl')).map((record) => record.learning_rate as number);
    expect(rates.map((rate) => rate / 0.05)).toEqual([0, 0.5, 1, 0.5]);
  });

  it('leaves masked-out entries bit-identical and clips the masked gradient', async () => {
    const { problem, base } = setUp({}, { weightDecay: 0.1 });
    const runDir = temporaryDir();
    const mask = tf.tensor2d([[1], [0], [1]]);
    const initial = values(problem.weight).map((_, i) => (i === 1 ? 0.75 : 0));
    problem.weight.assign(tf.tensor2d(initial, [3, 1]));

    // the gradient norm the loop must log for step 1: masked weight gradient and bias gradient
    const firstBatch = problem.batches(0)[0];
    const { grads, value } = tf.variableGrads(() => problem.lossFn(firstBatch), [problem.weight, problem.bias]);
    const maskedNorm = tf.tidy(() =>
      tf.sqrt(tf.add(tf.sum(tf.square(tf.mul(grads[problem.weight.name], mask))), tf.sum(tf.square(grads[problem.bias.name])))),
    );
    const expectedNorm = maskedNorm.dataSync()[0];
    tf.dispose([...Object.values(grads), value, maskedNorm]);

    await train({ ...base, maxSteps: 5, gradientMasks: { [problem.weight.name]: mask }, logEvery: 1, runDir, maxGradNorm: 0.01 });

    const after = values(problem.weight);
    expect(Object.is(after[1], Math.fround(0.75))).toBe(true);
    expect(after[0]).not.toBe(0);
    expect(after[2]).not.toBe(0);
    const logged = readMetrics(path.join(runDir, 'metrics.jsonl'))[0].grad_norm as number;
    expect(Math.abs(logged - expectedNorm)).toBeLessThan(1e-5 * expectedNorm);
    mask.dispose();
  });

  it('resumes from its checkpoint to the same parameters', async () => {
    const straight = setUp({ name: 'straight' });
    await train({ ...straight.base, maxSteps: 6, gradientAccumulationSteps: 2 });
    const expected = [...values(straight.problem.weight), ...values(straight.problem.bias)];

    // interrupted after 3 steps, 6 of the 8 batches of epoch 0, then resumed with fresh objects
    const runDir = temporaryDir();
    const first = setUp({ name: 'resumed' });
    await train({ ...first.base, maxSteps: 3, gradientAccumulationSteps: 2, saveEvery: 3, runDir });
    first.optimizer.dispose();
    first.problem.dispose();
    optimizers.splice(optimizers.indexOf(first.optimizer), 1);
    problems.splice(problems.indexOf(first.problem), 1);

    const second = setUp({ name: 'resumed' });
    const summary = await train({ ...second.base, maxSteps: 6, gradientAccumulationSteps: 2, saveEvery: 3, runDir, resume: true });

    expect(summary.steps).toBe(6);
    expect([...values(second.problem.weight), ...values(second.problem.bias)]).toEqual(expected);
    const state = JSON.parse(fs.readFileSync(path.join(runDir, 'checkpoint', 'trainer_state.json'), 'utf8'));
    expect(state).toMatchObject({ global_step: 6, epoch: 1, batches_in_epoch: 4 });
  });

  it('onStep can stop training and log values', async () => {
    const { base } = setUp();
    const runDir = temporaryDir();
    const reports: number[] = [];

    const summary = await train({
      ...base,
      maxSteps: 10,
      logEvery: 2,
      runDir,
      onStep: ({ step, loss }) => {
        reports.push(step);
        expect(loss).toBeGreaterThan(0);
        return step === 3 ? { stop: true, metrics: { retention: 0.5 } } : undefined;
      },
    });

    expect(summary.stopReason).toBe('callback');
    expect(summary.steps).toBe(3);
    expect(reports).toEqual([1, 2, 3]);
    const records = readMetrics(path.join(runDir, 'metrics.jsonl'));
    expect(records.map((record) => record.step)).toEqual([2, 3]);
    expect(records[1]).toMatchObject({ step: 3, retention: 0.5 });
    expect(records[1]).not.toHaveProperty('loss');
  });

  it('reports tokens per second when batches count tokens', async () => {
    const { base } = setUp();

    const summary = await train({ ...base, maxSteps: 4, countTokens: (batch) => batch.size * 10 });

    expect(summary.tokens).toBe(4 * 8 * 10);
    expect(summary.tokensPerSecond).toBeGreaterThan(0);
    expect(summary.trainSeconds).toBeLessThanOrEqual(summary.wallTimeSeconds);
  });

  it('trains the same with either backward pass', async () => {
    const lean = setUp({ name: 'backward-lean' }, { weightDecay: 0.01 });
    const plain = setUp({ name: 'backward-plain' }, { weightDecay: 0.01 });

    await train({ ...lean.base, maxSteps: 6, gradientAccumulationSteps: 2 });
    await train({ ...plain.base, maxSteps: 6, gradientAccumulationSteps: 2, lowMemoryGradients: false });

    expect(values(lean.problem.weight)).toEqual(values(plain.problem.weight));
    expect(values(lean.problem.bias)).toEqual(values(plain.problem.bias));
    expect(values(lean.problem.weight)).not.toEqual([0, 0, 0]);
  });

  it('frees every tensor a step allocates', async () => {
    const { problem, base } = setUp({ batchSize: 4 }, { weightDecay: 0.01 });
    const mask = tf.tensor2d([[1], [0], [1]]);
    const options: TrainOptions<Batch> = {
      ...base,
      gradientAccumulationSteps: 3,
      gradientMasks: { [problem.weight.name]: mask },
      maxGradNorm: 0.5,
      evaluate: async () => ({ loss: (await evaluateLoss(problem.batches(0), problem.lossFn)).loss }),
      evalEvery: 2,
    };

    // the first run creates the optimizer state and the mask copies
    await train({ ...options, maxSteps: 2 });
    const before = tf.memory().numTensors;
    await train({ ...options, maxSteps: 12 });

    expect(tf.memory().numTensors).toBe(before);
    mask.dispose();
  });
});

describe('train rejects', () => {
  it('invalid settings before training', async () => {
    const { problem, base } = setUp();
    const frozen = tf.variable(tf.zeros([1]), false, 'rejects.frozen');

    await expect(train({ ...base })).rejects.toThrow(/maxSteps or epochs/);
    await expect(train({ ...base, maxSteps: 1, gradientAccumulationSteps: 0 })).rejects.toThrow(InvalidInputError);
    await expect(train({ ...base, maxSteps: 1, earlyStoppingPatience: 2 })).rejects.toThrow(/needs an evaluate function/);
    await expect(train({ ...base, maxSteps: 1, resume: true })).rejects.toThrow(/need a runDir/);
    await expect(train({ ...base, maxSteps: 1, parameters: [problem.weight, frozen] })).rejects.toThrow(/not trainable/);
    await expect(train({ ...base, maxSteps: 1, maxGradNorm: -1 })).rejects.toThrow(/maxGradNorm/);
    frozen.dispose();
  });

  it('an epoch without batches', async () => {
    const { base } = setUp();

    await expect(train({ ...base, maxSteps: 1, batches: () => [] })).rejects.toThrow(/batches\(0\) returned no batch/);
  });

  it('a NaN loss with the step that produced it', async () => {
    const { problem, base } = setUp();
    const lossFn = (batch: Batch, context: { step: number }) =>
      context.step === 2 ? (tf.mul(problem.lossFn(batch), NaN) as tf.Scalar) : problem.lossFn(batch);

    await expect(train({ ...base, maxSteps: 5, lossFn })).rejects.toThrow(TrainingDivergedError);
    await expect(train({ ...base, maxSteps: 5, lossFn })).rejects.toThrow(/NaN at step 3/);
  });

  it('a missing checkpoint when resuming', async () => {
    const { base } = setUp();

    await expect(train({ ...base, maxSteps: 2, runDir: temporaryDir(), resume: true })).rejects.toThrow(CheckpointError);
  });

  it('an evaluation without the primary metric', async () => {
    const { base } = setUp();

    await expect(train({ ...base, maxSteps: 1, evaluate: () => ({ accuracy: 1 }) })).rejects.toThrow(
      /returned no "loss" metric \(it returned: accuracy\)/,
    );
  });
});
