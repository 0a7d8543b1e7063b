/**
 * A tiny architecture for CLI tests (not part of the public API): one hidden linear layer and a
 * classification head over 12 input features, stored as a Hugging Face-style folder
 * (`config.json`, `model.safetensors`), with a task whose data is a JSON list of examples.
 */
import * as fs from 'fs';
import * as path from 'path';

import * as tf from '@tensorflow/tfjs-core';
import { crossEntropy, linear, loadSafetensors, saveSafetensors, type LinearLayer, type StateDict } from '@modularevo/core-tensor';
import type { Architecture, ArchitectureTask, PretrainedModel, TaskModel } from '@modularevo/masking';

import { seededUniform } from './architectures';

const FEATURES = 12;
const HIDDEN = 40;
const LABELS = ['a', 'b', 'c'];

const BODY: LinearLayer = { name: 'body.dense', weight: 'body.dense.weight', bias: 'body.dense.bias', inFeatures: FEATURES, outFeatures: HIDDEN };
const HEAD: LinearLayer = { name: 'classifier.out', weight: 'classifier.out.weight', bias: 'classifier.out.bias', inFeatures: HIDDEN, outFeatures: LABELS.length };

interface Example {
  x: number[];
  label: string;
}

interface Batch {
  x: tf.Tensor2D;
  labels: number[];
}

/** Writes a random base model folder of the fake architecture. */
export function writeFakeModel(dir: string, seed: number): void {
  fs.mkdirSync(dir, { recursive: true });
  const random = seededUniform(seed);
  const values = (length: number) => Float32Array.from({ length }, () => random() * 2 - 1);
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ model_type: 'fake', hidden_size: HIDDEN }));
  saveSafetensors(
    path.join(dir, 'model.safetensors'),
    new Map([
      [BODY.weight, { dtype: 'F32', shape: [HIDDEN, FEATURES], data: values(HIDDEN * FEATURES) }],
      [BODY.bias!, { dtype: 'F32', shape: [HIDDEN], data: values(HIDDEN) }],
    ]),
  );
}

/** Writes `count` random examples as a JSON list. */
export function writeFakeData(file: string, count: number, seed: number): void {
  const random = seededUniform(seed);
  const examples: Example[] = Array.from({ length: count }, () => ({
    x: Array.from({ length: FEATURES }, () => random() * 2 - 1),
    label: LABELS[Math.floor(random() * LABELS.length)],
  }));
  fs.writeFileSync(file, JSON.stringify(examples));
}

function loadBase(dir: string): PretrainedModel {
  const configJson = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  const state = loadSafetensors(path.join(dir, 'model.safetensors'));
  const params = new Map<string, tf.Variable>();
  for (const [name, tensor] of state) params.set(name, tf.variable(tf.tensor(tensor.data as Float32Array, tensor.shape, 'float32')));
  return {
    architecture: 'fake',
    configJson,
    sourceDir: dir,
    params,
    parameter: (name) => params.get(name)!,
    linearLayers: () => [BODY],
    stateDict: (): StateDict => {
      const out: StateDict = new Map();
      for (const [name, variable] of params) out.set(name, { dtype: 'F32', shape: variable.shape, data: variable.dataSync() as Float32Array });
      return out;
    },
    assign: () => undefined,
    save: async () => undefined,
    dispose: () => params.forEach((variable) => variable.dispose()),
  };
}

function createModel(base: PretrainedModel, seed: number): TaskModel<Batch> {
  const random = seededUniform(seed);
  const head = new Map<string, tf.Variable>([
    [HEAD.weight, tf.variable(tf.tensor2d(Float32Array.from({ length: LABELS.length * HIDDEN }, () => random() * 2 - 1), [LABELS.length, HIDDEN]))],
    [HEAD.bias!, tf.variable(tf.zeros([LABELS.length]))],
  ]);
  const logits = (batch: Batch, linearFn = (layer: LinearLayer, x: tf.Tensor, w: tf.Tensor2D, b?: tf.Tensor1D) => linear(x, w, b)) => {
    const hidden = tf.relu(linearFn(BODY, batch.x, base.parameter(BODY.weight) as unknown as tf.Tensor2D, base.parameter(BODY.bias!) as unknown as tf.Tensor1D)); // [batch, hidden]
    return linearFn(HEAD, hidden, head.get(HEAD.weight) as unknown as tf.Tensor2D, head.get(HEAD.bias!) as unknown as tf.Tensor1D); // [batch, labels]
  };
  return {
    task: 'fake',
    base,
    head,
    labels: LABELS,
    loss: (batch, options) => tf.tidy(() => crossEntropy(logits(batch, options?.linear), tf.tensor1d(batch.labels, 'int32'))),
    evaluate: async (batches, options) => {
      let correct = 0;
      let total = 0;
      for (const batch of batches) {
        const predicted = tf.tidy(() => tf.argMax(logits(batch, options?.linear), -1).dataSync());
        predicted.forEach((id, i) => (correct += id === batch.labels[i] ? 1 : 0));
        total += batch.labels.length;
      }
      return { accuracy: total === 0 ? 0 : correct / total };
    },
    save: async () => undefined,
    dispose: () => {
      base.dispose();
      head.forEach((variable) => variable.dispose());
    },
  };
}

const task: ArchitectureTask<Example, Batch> = {
  info: { name: 'fake', description: 'random three-way classification', primaryMetric: 'accuracy', defaultDomain: 'fake' },
  load: async (source, options) => {
    const examples = JSON.parse(fs.readFileSync(source as string, 'utf8')) as Example[];
    return { task: 'fake', labels: LABELS, splits: { test: examples.slice(0, options?.maxExamples?.test ?? examples.length) } };
  },
  createModel: (base, _data, options) => createModel(base, options.seed),
  loadModel: async () => {
    throw new Error('the fake architecture has no fine-tuned folders');
  },
  batches: (_model, examples, options) => {
    const batches: Batch[] = [];
    for (let i = 0; i < examples.length; i += options.batchSize) {
      const chunk = examples.slice(i, i + options.batchSize);
      batches.push({ x: tf.keep(tf.tensor2d(chunk.map((e) => e.x))), labels: chunk.map((e) => LABELS.indexOf(e.label)) });
    }
    return batches;
  },
  tokens: (batch) => batch.labels.length,
};

/** The fake architecture, as `--arch fake` resolves in tests. */
export const fakeArchitecture: Architecture = {
  name: 'fake',
  modelTypes: ['fake'],
  taskHeadPattern: 'classifier\\.',
  load: async (dir) => loadBase(dir),
  objective: {
    name: 'none',
    prepare: () => {
      throw new Error('the fake architecture has no objective');
    },
    loss: () => {
      throw new Error('the fake architecture has no objective');
    },
  },
  tasks: { fake: task as ArchitectureTask },
};
