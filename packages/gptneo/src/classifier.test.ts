import * as fs from 'fs';
import * as path from 'path';

import * as tf from '@tensorflow/tfjs-core';

import { CheckpointError, InvalidInputError, initBackend, SafetensorsFile } from '@modularevo/core-tensor';
import { modelFixturesOfType, temporaryDir } from '@modularevo/test-support';

import { seededUniform, worstMismatch } from '../test/helpers';
import { GPTNeoWithClassificationHead, TASK_FILE } from './classifier';
import { classificationHeadShapes, initClassificationHead, TASK_HEAD_PATTERN } from './heads';
import { GPTNeoForCausalLM } from './model';

const TASK = { task: 'mathqa', labels: ['algebra', 'geometry', 'probability'] };
const ROWS = [
  [17, 254, 3, 998, 41, 41, 600, 5],
  [500, 2, 731, 64],
];

beforeAll(async () => {
  await initBackend();
});

function padded(rows: number[][], pad: number) {
  const seq = Math.max(...rows.map((row) => row.length));
  return {
    inputIds: rows.map((row) => [...row, ...new Array(seq - row.length).fill(pad)]),
    attentionMask: rows.map((row) => Array.from({ length: seq }, (_, t) => (t < row.length ? 1 : 0))),
  };
}

describe('GPTNeoWithClassificationHead', () => {
  const { dir } = modelFixturesOfType('gpt_neo')[0];
  let classifier: GPTNeoWithClassificationHead;

  beforeAll(() => {
    classifier = GPTNeoWithClassificationHead.create(GPTNeoForCausalLM.fromPretrained(dir), TASK, seededUniform(7));
  });
  afterAll(() => classifier.dispose());

  it('returns logits per class', () => {
    const shape = tf.tidy(() => classifier.forward(padded(ROWS, 999)).shape);
    expect(shape).toEqual([ROWS.length, TASK.labels.length]);
  });

  it('pools over real tokens only', () => {
    tf.tidy(() => {
      const batched = classifier.forward(padded(ROWS, 999)).dataSync();
      const longerPadding = classifier.forward(padded([...ROWS, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]], 999)).dataSync();
      ROWS.forEach((row, b) => {
        const alone = classifier.forward({ inputIds: [row] }).dataSync();
        const classes = TASK.labels.length;
        const tolerance = { abs: 1e-5, rel: 1e-5 };
        expect(worstMismatch(batched.subarray(b * classes, (b + 1) * classes), alone, tolerance)).toBeUndefined();
        expect(worstMismatch(longerPadding.subarray(b * classes, (b + 1) * classes), alone, tolerance)).toBeUndefined();
      });
    });
  });

  it('sends gradients to head and base', () => {
    const parameters = classifier.parameters();
    const { value, grads } = tf.variableGrads(() => classifier.loss(padded(ROWS, 999), [0, 2]));
    expect(value.shape).toEqual([]);
    expect(Number.isFinite(value.dataSync()[0])).toBe(true);

    const nonZero = (name: string) => {
      const grad = grads[parameters.get(name)!.name];
      return grad !== undefined && tf.any(tf.notEqual(grad, 0)).dataSync()[0] === 1;
    };
    for (const name of classifier.head.keys()) expect({ name, nonZero: nonZero(name) }).toEqual({ name, nonZero: true });
    for (const name of ['transformer.wte.weight', 'transformer.h.0.attn.attention.q_proj.weight', 'transformer.ln_f.bias']) {
      expect({ name, nonZero: nonZero(name) }).toEqual({ name, nonZero: true });
    }
    tf.dispose([value, ...Object.values(grads)]);
  });

  it('keeps head names matched by the task-head pattern', () => {
    const pattern = new RegExp(`^${TASK_HEAD_PATTERN}$`);
    const names = [...classifier.parameters().keys()];
    expect(names.filter((name) => pattern.test(name)).sort()).toEqual([...classifier.head.keys()].sort());
    expect(classifier.linearLayers().map((layer) => layer.name)).not.toContain('lm_head');
  });

  it('rejects labels outside the classes', () => {
    expect(() => tf.tidy(() => classifier.loss(padded(ROWS, 999), [0, 3]))).toThrow(InvalidInputError);
    expect(() => tf.tidy(() => classifier.loss(padded(ROWS, 999), [0]))).toThrow(/1 labels for a batch of 2/);
  });

  it('round-trips through a model folder', async () => {
    const out = path.join(temporaryDir(), 'mathqa');
    await classifier.save(out);

    for (const name of ['config.json', 'model.safetensors', TASK_FILE, 'vocab.json', 'merges.txt', 'tokenizer_config.json']) {
      expect({ name, exists: fs.existsSync(path.join(out, name)) }).toEqual({ name, exists: true });
    }
    const file = SafetensorsFile.open(path.join(out, 'model.safetensors'));
    expect(file.has('lm_head.weight')).toBe(false);
    expect(file.has('transformer.wte.weight')).toBe(true);
    expect(file.has('classification_head.7.bias')).toBe(true);
    file.close();

    const loaded = GPTNeoWithClassificationHead.fromPretrained(out);
    try {
      expect(loaded.task).toEqual(TASK);
      tf.tidy(() => {
        const inputs = padded(ROWS, 999);
        expect(Array.from(loaded.forward(inputs).dataSync())).toEqual(Array.from(classifier.forward(inputs).dataSync()));
      });
    } finally {
      loaded.dispose();
    }
  });

  it('refuses to overwrite a folder', async () => {
    const out = temporaryDir();
    fs.writeFileSync(path.join(out, 'keep.txt'), 'x');
    await expect(classifier.save(out)).rejects.toThrow(/already exists and is not empty/);
    expect(fs.readdirSync(out)).toEqual(['keep.txt']);
  });

  it('rejects a head that does not fit task.json', async () => {
    const out = path.join(temporaryDir(), 'classifier');
    await classifier.save(out);
    fs.writeFileSync(path.join(out, TASK_FILE), JSON.stringify({ task: 'mathqa', labels: ['a', 'b'] }));

    expect(() => GPTNeoWithClassificationHead.fromPretrained(out)).toThrow(CheckpointError);
    expect(() => GPTNeoWithClassificationHead.fromPretrained(out)).toThrow(
      /"classification_head.7.weight" has shape \[3, 16\] but 2 labels in task.json imply \[2, 16\]/,
    );
  });

  it('rejects a folder without task.json', () => {
    expect(() => GPTNeoWithClassificationHead.fromPretrained(dir)).toThrow(/task.json: missing task file/);
  });
});

describe('initClassificationHead', () => {
  it('draws PyTorch default Linear init', () => {
    const hidden = 32;
    const head = initClassificationHead(hidden, 4, seededUniform(3));
    try {
      expect([...head.keys()]).toEqual([...classificationHeadShapes(hidden, 4).keys()]);
      const bounds: Record<string, number> = { '0': 1 / Math.sqrt(32), '4': 1 / Math.sqrt(32), '7': 1 / Math.sqrt(16) };
      for (const [name, variable] of head) {
        const index = name.split('.')[1];
        const values = Array.from(variable.dataSync());
        if (index === '1') {
          expect(values.every((value) => value === (name.endsWith('weight') ? 1 : 0))).toBe(true);
        } else {
          const bound = bounds[index];
          expect(Math.max(...values.map(Math.abs))).toBeLessThanOrEqual(bound);
          // n uniform draws all stay below half the bound with probability 2^-n
          if (values.length >= 16) expect(Math.max(...values.map(Math.abs))).toBeGreaterThan(bound / 2);
        }
      }
      const again = initClassificationHead(hidden, 4, seededUniform(3));
      expect(Array.from(again.get('classification_head.7.weight')!.dataSync())).toEqual(
        Array.from(head.get('classification_head.7.weight')!.dataSync()),
      );
      tf.dispose([...again.values()]);
    } finally {
      tf.dispose([...head.values()]);
    }
  });

  it('rejects fewer than two labels', () => {
    expect(() => initClassificationHead(32, 1, Math.random)).toThrow(/at least 2 labels/);
  });
});
