import * as tf from '@tensorflow/tfjs-core';

import { fixture, readJsonFixture } from '@modularevo/test-support';

import { initBackend } from '../backend';
import { loadSafetensors } from '../checkpoint/safetensors';
import type { StateDict } from '../checkpoint/state-dict';
import { InvalidInputError, MismatchError } from '../errors';
import { AdamW } from './adamw';

interface OptimizerFixture {
  parameters: { name: string; shape: number[]; mask_kind: string | null; mask_dict_key: string | null }[];
  runs: {
    name: string;
    lr: number;
    weight_decay: number;
    betas: [number, number];
    eps: number;
    steps: { step: number; change_summary_vs_init: Record<string, Record<string, number | boolean>> }[];
  }[];
}

const PARAMETER_TOLERANCE = 1e-7;
const STATE_RELATIVE_TOLERANCE = 1e-5;

const spec = readJsonFixture<OptimizerFixture>('optimizer', 'adamws.json');
const tensors: StateDict = loadSafetensors(fixture('optimizer', 'adamws.safetensors'));

function values(key: string): Float32Array {
  const tensor = tensors.get(key);
  if (!tensor) throw new Error(`adamws.safetensors has no tensor ${key}`);
  return tensor.data as Float32Array;
}

function maxAbsDiff(actual: ArrayLike<number>, expected: ArrayLike<number>, where?: (i: number) => boolean): number {
  expect(actual.length).toBe(expected.length);
  let max = 0;
  for (let i = 0; i < actual.length; i++) {
    if (!where || where(i)) max = Math.max(max, Math.abs(actual[i] - expected[i]));
  }
  return max;
}

/** Returns the largest |actual - expected| / |expected| (exact zeros must match exactly). */
function maxRelDiff(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  expect(actual.length).toBe(expected.length);
  let max = 0;
  for (let i = 0; i < actual.length; i++) {
    const diff = Math.abs(actual[i] - expected[i]);
    if (expected[i] !== 0) {
      max = Math.max(max, diff / Math.abs(expected[i]));
    } else if (diff !== 0) {
      max = Infinity;
    }
  }
  return max;
}

function read(variable: tf.Tensor): Float32Array {
  return variable.dataSync() as Float32Array;
}

function gradsOf(step: number): tf.NamedTensorMap {
  const grads: tf.NamedTensorMap = {};
  for (const parameter of spec.parameters) {
    grads[parameter.name] = tf.tensor(values(`grad.step${step}.${parameter.name}`), parameter.shape);
  }
  return grads;
}

beforeAll(async () => {
  await initBackend();
});

describe.each(spec.runs.map((run) => [run.name, run] as const))('AdamW fixture run %s', (_name, run) => {
  let parameters: tf.Variable[];
  let optimizer: AdamW;
  // the mask as AdamWS reads it: an entry trains when its score is > 0
  const kept = new Map<string, boolean[]>();

  beforeAll(() => {
    parameters = spec.parameters.map((p) => tf.variable(tf.tensor(values(`init.${p.name}`), p.shape), true, p.name));
    optimizer = new AdamW(parameters, { lr: run.lr, weightDecay: run.weight_decay, betas: run.betas, eps: run.eps });
    for (const parameter of spec.parameters) {
      if (!parameter.mask_dict_key) continue;
      const scores = values(`mask_dict.${parameter.mask_dict_key}`);
      kept.set(parameter.name, Array.from(scores, (score) => score > 0));
      tf.tidy(() => optimizer.setGradientMask(parameter.name, tf.tensor(scores, parameter.shape)));
    }
  });

  afterAll(() => {
    optimizer.dispose();
    for (const variable of parameters) variable.dispose();
  });

  describe.each(run.steps.map((step) => [step.step, step] as const))('step %i', (stepNumber, step) => {
    const prefix = `${run.name}.after_step${stepNumber}`;

    beforeAll(() => {
      const grads = gradsOf(stepNumber);
      optimizer.applyGradientMasks(grads);
      for (const parameter of spec.parameters) {
        // the masked gradient is what AdamWS leaves in .grad
        expect(maxAbsDiff(read(grads[parameter.name]), values(`${prefix}.grad_after_call.${parameter.name}`))).toBe(0);
      }
      optimizer.step(grads);
      tf.dispose(grads);
    });

    it.each(spec.parameters.map((p) => [p.name, p] as const))('%s states match torch', (name) => {
      const state = optimizer.stateDict();

      expect(maxRelDiff(state.get(`${name}.exp_avg`)!.data as Float32Array, values(`${prefix}.exp_avg.${name}`))).toBeLessThanOrEqual(
        STATE_RELATIVE_TOLERANCE,
      );
      expect(
        maxRelDiff(state.get(`${name}.exp_avg_sq`)!.data as Float32Array, values(`${prefix}.exp_avg_sq.${name}`)),
      ).toBeLessThanOrEqual(STATE_RELATIVE_TOLERANCE);
      expect(Number(state.get(`${name}.step`)!.data[0])).toBe(stepNumber);
    });

    it.each(spec.parameters.map((p) => [p.name, p] as const))('%s parameter', (name) => {
      const actual = read(parameters.find((v) => v.name === name)!);
      const expected = values(`${prefix}.${name}`);
      const initial = values(`init.${name}`);
      const mask = kept.get(name);
      const summary = step.change_summary_vs_init[name];

      if (!mask || run.weight_decay === 0) {
        // unmasked parameters follow torch AdamW; with weight decay 0 masked ones follow AdamWS
        expect(maxAbsDiff(actual, expected)).toBeLessThanOrEqual(PARAMETER_TOLERANCE);
        return;
      }

      // entries inside the mask follow AdamWS (decay, then the Adam step)
      expect(maxAbsDiff(actual, expected, (i) => mask[i])).toBeLessThanOrEqual(PARAMETER_TOLERANCE);

      // Intended difference: AdamWS decays masked-out entries when weight_decay > 0, this
      // optimizer leaves them bit-identical to their initial values.
      const frozen = mask.flatMap((keep, i) => (keep ? [] : [i]));
      expect(frozen.filter((i) => Object.is(actual[i], initial[i]))).toEqual(frozen);
      expect(summary.masked_out_entries_changed).toBe(frozen.length);
      if (frozen.length > 0) expect(maxAbsDiff(expected, initial, (i) => !mask[i])).toBeGreaterThan(0);
    });

    it('moves only entries inside the masks', () => {
      for (const parameter of spec.parameters) {
        const mask = kept.get(parameter.name);
        if (!mask) continue;
        const actual = read(parameters.find((v) => v.name === parameter.name)!);
        const initial = values(`init.${parameter.name}`);
        const summary = step.change_summary_vs_init[parameter.name];

        const changedInside = mask.filter((keep, i) => keep && actual[i] !== initial[i]).length;
        const changedOutside = mask.filter((keep, i) => !keep && actual[i] !== initial[i]).length;
        expect(changedInside).toBe(summary.kept_entries_changed);
        expect(changedOutside).toBe(0);
      }
    });
  });
});

describe('AdamW', () => {
  beforeAll(async () => {
    await initBackend();
  });

  it('uses the torch defaults', () => {
    const variable = tf.variable(tf.zeros([2]), true, 'defaults.weight');
    const optimizer = new AdamW([variable]);

    expect(optimizer.groups[0].lr).toBe(1e-3);
    expect(optimizer.groups[0].weightDecay).toBe(0.01);
    expect(optimizer.betas).toEqual([0.9, 0.999]);
    expect(optimizer.eps).toBe(1e-8);

    optimizer.dispose();
    variable.dispose();
  });

  it('first step moves each entry by lr against its gradient', () => {
    // with zero moments, m / (sqrt(v) / sqrt(1 - beta2)) = sign(g) * |g| / (|g| + eps)
    const variable = tf.variable(tf.tensor([1, -2, 0.5, 4]), true, 'first.weight');
    const optimizer = new AdamW([variable], { lr: 0.01, weightDecay: 0 });
    const gradient = tf.tensor([0.3, -5, 1e-3, 0]);

    optimizer.step({ 'first.weight': gradient });

    const expected = [1 - 0.01, -2 + 0.01, 0.5 - 0.01 * (1e-3 / (1e-3 + 1e-8)), 4];
    expect(maxAbsDiff(read(variable), expected)).toBeLessThan(1e-6);

    optimizer.dispose();
    tf.dispose([variable, gradient]);
  });

  it('applies each group its own lr and weight decay', () => {
    const decayed = tf.variable(tf.tensor([2]), true, 'groups.decayed');
    const plain = tf.variable(tf.tensor([2]), true, 'groups.plain');
    const optimizer = new AdamW([{ params: [decayed], weightDecay: 0.5 }, { params: [plain], lr: 0.2, weightDecay: 0 }], {
      lr: 0.1,
    });
    const zero = tf.zeros([1]);

    // a zero gradient leaves only the decay: p * (1 - lr * wd)
    optimizer.step({ 'groups.decayed': zero, 'groups.plain': zero });

    expect(read(decayed)[0]).toBeCloseTo(2 * (1 - 0.1 * 0.5), 6);
    expect(read(plain)[0]).toBe(2);
    expect(optimizer.groups.map((group) => group.lr)).toEqual([0.1, 0.2]);

    optimizer.dispose();
    tf.dispose([decayed, plain, zero]);
  });

  it('lrScale multiplies the learning rate', () => {
    const scaled = tf.variable(tf.tensor([1, 2]), true, 'scale.a');
    const halved = tf.variable(tf.tensor([1, 2]), true, 'scale.b');
    const first = new AdamW([scaled], { lr: 0.02 });
    const second = new AdamW([halved], { lr: 0.01 });
    const gradient = tf.tensor([0.5, -0.25]);

    first.step({ 'scale.a': gradient }, 0.5);
    second.step({ 'scale.b': gradient });

    expect(Array.from(read(scaled))).toEqual(Array.from(read(halved)));

    first.dispose();
    second.dispose();
    tf.dispose([scaled, halved, gradient]);
  });

  it('resumes bit-identically from its state dict', () => {
    const gradients = [0, 1, 2].map((k) => tf.tensor([[0.1 * k - 0.3, 0.2], [-0.05, 0.4 + k]]));
    const initial = tf.tensor([[1, -1], [0.5, 2]]);

    const continuous = tf.variable(initial, true, 'resume.continuous');
    const uninterrupted = new AdamW([continuous], { lr: 0.05 });
    for (const gradient of gradients) uninterrupted.step({ 'resume.continuous': gradient });

    const first = tf.variable(initial, true, 'resume.split');
    const before = new AdamW([first], { lr: 0.05 });
    before.step({ 'resume.split': gradients[0] });
    before.step({ 'resume.split': gradients[1] });
    const saved = before.stateDict();
    before.dispose();

    const after = new AdamW([first], { lr: 0.05 });
    after.loadStateDict(saved);
    after.step({ 'resume.split': gradients[2] });

    expect(Array.from(read(first))).toEqual(Array.from(read(continuous)));

    uninterrupted.dispose();
    after.dispose();
    tf.dispose([...gradients, initial, continuous, first]);
  });

  it('rejects a state dict for other parameters', () => {
    const variable = tf.variable(tf.zeros([3]), true, 'load.weight');
    const optimizer = new AdamW([variable]);
    const step = { dtype: 'I64', shape: [], data: new BigInt64Array([1n]) } as const;
    const moments = { dtype: 'F32', shape: [3], data: new Float32Array(3) } as const;

    const unknown: StateDict = new Map([['other.weight.exp_avg', moments]]);
    const wrongShape: StateDict = new Map([
      ['load.weight.step', step],
      ['load.weight.exp_avg', { dtype: 'F32', shape: [2], data: new Float32Array(2) }],
      ['load.weight.exp_avg_sq', moments],
    ]);
    const incomplete: StateDict = new Map([['load.weight.exp_avg', moments]]);

    expect(() => optimizer.loadStateDict(unknown)).toThrow(MismatchError);
    expect(() => optimizer.loadStateDict(wrongShape)).toThrow(/load.weight.exp_avg is F32 \[2\]/);
    expect(() => optimizer.loadStateDict(incomplete)).toThrow(/incomplete/);

    optimizer.dispose();
    variable.dispose();
  });

  it('rejects invalid settings and unknown gradients', () => {
    const variable = tf.variable(tf.zeros([2, 2]), true, 'invalid.weight');
    const optimizer = new AdamW([variable]);
    const wrongShape = tf.zeros([4]);

    expect(() => new AdamW([variable], { lr: -1 })).toThrow(InvalidInputError);
    expect(() => new AdamW([variable], { betas: [1, 0.999] })).toThrow(/betas\[0\]/);
    expect(() => new AdamW([variable], { weightDecay: NaN })).toThrow(InvalidInputError);
    expect(() => new AdamW([])).toThrow(/at least one parameter/);
    expect(() => new AdamW([{ params: [variable] }, { params: [variable] }])).toThrow(/listed twice/);
    expect(() => optimizer.step({ 'other.weight': wrongShape })).toThrow(MismatchError);
    expect(() => optimizer.step({ 'invalid.weight': wrongShape })).toThrow(/shape \[4\]/);
    expect(() => optimizer.setGradientMask('invalid.weight', wrongShape)).toThrow(MismatchError);

    optimizer.dispose();
    tf.dispose([variable, wrongShape]);
  });

  it('frees all its state on dispose', () => {
    const variable = tf.variable(tf.ones([4, 3]), true, 'dispose.weight');
    const grads = { 'dispose.weight': tf.ones([4, 3]) };
    const before = tf.memory().numTensors;

    const optimizer = new AdamW([variable]);
    optimizer.step(grads);
    optimizer.loadStateDict(optimizer.stateDict());
    optimizer.dispose();

    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([variable, ...Object.values(grads)]);
  });

  it('keeps the number of tensors constant across steps', () => {
    const variables = [tf.variable(tf.ones([4, 3]), true, 'memory.weight'), tf.variable(tf.ones([3]), true, 'memory.bias')];
    const optimizer = new AdamW(variables, { weightDecay: 0.1 });
    tf.tidy(() => optimizer.setGradientMask('memory.weight', tf.tensor([1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0], [4, 3])));
    const grads = { 'memory.weight': tf.ones([4, 3]), 'memory.bias': tf.ones([3]) };

    optimizer.step(grads);
    const after = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) optimizer.step(grads);

    expect(tf.memory().numTensors).toBe(after);

    optimizer.dispose();
    tf.dispose([...variables, ...Object.values(grads)]);
  });
});
