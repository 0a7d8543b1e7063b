import * as fs from 'fs';
import * as path from 'path';

import * as tf from '@tensorflow/tfjs-core';

import { initBackend, InvalidInputError, loadSafetensors, MismatchError, type StateDict } from '@modularevo/core-tensor';
import { loadTokenizer } from '@modularevo/datasets';
import { describePretrainedModel, loadArchitecture, taskHeadMatcher } from '@modularevo/masking';
import { modelFixturesOfType, temporaryDir } from '@modularevo/test-support';

import { architecture } from './architecture';
import { GPTNeoWithClassificationHead } from './classifier';
import { GPTNeoForCausalLM } from './model';
import { causalLM, causalLMBlockLoss } from './modularization-objective';
import { causalLMObjective } from './objective';

const [fixture] = modelFixturesOfType('gpt_neo');

// Training runs take several seconds, more on a loaded machine. Run from the repository root,
// Jest ignores the preset's per-project testTimeout and applies its 5 s default.
jest.setTimeout(300_000);

beforeAll(async () => {
  await initBackend();
});

/** Returns the number and bytes of live tensors after `run`, relative to before it. */
async function leftover(run: () => Promise<void> | void): Promise<{ tensors: number; bytes: number }> {
  const before = tf.memory();
  await run();
  const after = tf.memory();
  return { tensors: after.numTensors - before.numTensors, bytes: after.numBytes - before.numBytes };
}

function bitsEqual(a: StateDict, b: StateDict): boolean {
  if (a.size !== b.size) return false;
  for (const [name, tensor] of a) {
    const other = b.get(name);
    if (!other || !Buffer.from(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength).equals(Buffer.from(other.data.buffer, other.data.byteOffset, other.data.byteLength))) {
      return false;
    }
  }
  return true;
}

describe('gptneo architecture', () => {
  it('describes itself for the generic machinery', () => {
    expect(architecture.name).toBe('gptneo');
    expect(architecture.modelTypes).toEqual(['gpt_neo']);
    expect(Object.keys(architecture.tasks)).toEqual(['mathqa', 'scotus', 'code', 'langid', 'math-topic', 'license-family', 'code-language']);
    const domains = Object.fromEntries(Object.entries(architecture.tasks).map(([name, task]) => [name, task.info.defaultDomain]));
    expect(domains).toEqual({ mathqa: 'math', scotus: 'law', code: 'github', langid: 'europarl', 'math-topic': 'math', 'license-family': 'law', 'code-language': 'code' });
    expect(architecture.objective.name).toBe('causal-lm');
  });

  it('is found by loadArchitecture', () => {
    expect(loadArchitecture('gptneo')).toBe(architecture);
  });

  it('names head parameters with the task-head pattern', () => {
    const isHead = taskHeadMatcher(architecture.taskHeadPattern);
    expect(isHead('classification_head.7.weight')).toBe(true);
    expect(isHead('transformer.h.0.mlp.c_fc.weight')).toBe(false);
    expect(isHead('lm_head.weight')).toBe(false);
  });
});

describe('GPTNeoForCausalLM as a pretrained model', () => {
  let model: GPTNeoForCausalLM;

  beforeAll(async () => {
    model = (await architecture.load(fixture.dir)) as GPTNeoForCausalLM;
  });
  afterAll(() => model.dispose());

  it('lists the masked layers with the tied lm_head', () => {
    const base = describePretrainedModel(model);
    expect(model.architecture).toBe('gptneo');
    expect(model.configJson.model_type).toBe('gpt_neo');
    expect(model.sourceDir).toBe(fixture.dir);
    expect(model.stateDict().has('lm_head.weight')).toBe(false);
    expect(base.parameterShapes.get('lm_head.weight')).toEqual([1000, 32]);
    expect(model.linearLayers().map((layer) => layer.name)).toContain('lm_head');
  });

  it('hashes model.safetensors and pytorch_model.bin alike', async () => {
    const dir = temporaryDir();
    for (const name of fs.readdirSync(fixture.dir).filter((file) => file !== 'model.safetensors')) fs.copyFileSync(path.join(fixture.dir, name), path.join(dir, name));
    const fromBin = await architecture.load(dir);
    try {
      expect(describePretrainedModel(fromBin).weightsSha256).toBe(describePretrainedModel(model).weightsSha256);
    } finally {
      fromBin.dispose();
    }
  });

  it('assigns a state dict and follows the tie', () => {
    const original = model.stateDict();
    const changed: StateDict = new Map([['lm_head.weight', { ...original.get('transformer.wte.weight')!, data: new Float32Array(1000 * 32).fill(0.5) }]]);
    model.assign(changed);
    expect(model.parameter('transformer.wte.weight').dataSync()[123]).toBe(0.5);
    model.assign(original);
    expect(bitsEqual(model.stateDict(), original)).toBe(true);
  });

  it.each([
    ['an unknown name', 'transformer.h.9.mlp.c_fc.weight', [128, 32], /GPT-Neo has no such parameter/],
    ['another shape', 'transformer.ln_f.bias', [31], /has shape \[32\]/],
  ])('rejects %s in assign', (_case, name, shape, message) => {
    const before = model.stateDict();
    const state: StateDict = new Map([[name, { dtype: 'F32', shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) }]]);
    expect(() => model.assign(state)).toThrow(MismatchError);
    expect(() => model.assign(state)).toThrow(message);
    expect(bitsEqual(model.stateDict(), before)).toBe(true);
  });

  it('rejects tied names with different values', () => {
    const wte = model.stateDict().get('transformer.wte.weight')!;
    const state: StateDict = new Map([
      ['transformer.wte.weight', wte],
      ['lm_head.weight', { ...wte, data: new Float32Array(wte.data.length) }],
    ]);
    expect(() => model.assign(state)).toThrow(/tied weights/);
  });

  it('saves a folder that loads with its tokenizer', async () => {
    const dir = path.join(temporaryDir(), 'saved');
    await model.save(dir);
    expect(fs.readdirSync(dir).sort()).toEqual(['config.json', 'generation_config.json', 'merges.txt', 'model.safetensors', 'special_tokens_map.json', 'tokenizer_config.json', 'vocab.json']);
    expect(bitsEqual(loadSafetensors(path.join(dir, 'model.safetensors')), model.stateDict())).toBe(true);
    expect(loadTokenizer(dir).encode('def f(x):')).toEqual(model.tokenizer().encode('def f(x):'));
    await expect(model.save(dir)).rejects.toThrow(InvalidInputError);
  });

  it('frees every tensor on dispose', async () => {
    const change = await leftover(async () => {
      const loaded = await architecture.load(fixture.dir);
      loaded.dispose();
    });
    expect(change).toEqual({ tensors: 0, bytes: 0 });
  });

  it('frees the classifier and its head on dispose', async () => {
    const change = await leftover(async () => {
      const task = architecture.tasks.mathqa;
      const data = { task: 'mathqa', labels: ['a', 'b', 'c'], splits: {} };
      const taskModel = task.createModel(await architecture.load(fixture.dir), data, { seed: 1 });
      taskModel.dispose();
    });
    expect(change).toEqual({ tensors: 0, bytes: 0 });
  });

  it('frees a loaded classifier on dispose', async () => {
    const dir = path.join(temporaryDir(), 'classifier');
    const classifier = GPTNeoWithClassificationHead.create(GPTNeoForCausalLM.fromPretrained(fixture.dir), { task: 'mathqa', labels: ['a', 'b'] }, () => 0.25);
    await classifier.save(dir);
    classifier.dispose();
    const change = await leftover(() => GPTNeoWithClassificationHead.fromPretrained(dir).dispose());
    expect(change).toEqual({ tensors: 0, bytes: 0 });
  });
});

describe('causal-lm objective', () => {
  const texts = ['def add(a, b):\n    return a + b\n', 'import os\nprint(os.getcwd())\n', 'class A:\n    pass\n'.repeat(4)];
  let model: GPTNeoForCausalLM;

  beforeAll(() => {
    model = GPTNeoForCausalLM.fromPretrained(fixture.dir);
  });
  afterAll(() => model.dispose());

  it('joins documents with EOS and cuts whole blocks', () => {
    const tokenizer = model.tokenizer();
    const ids = texts.flatMap((text, i) => [...(i > 0 ? [tokenizer.eosId!] : []), ...tokenizer.encode(text, { addSpecialTokens: false })]);
    const corpus = causalLM.prepare(model, texts, { blockSize: 8, batchSize: 3, seed: 5 });

    expect(corpus.numBlocks).toBe(Math.floor(ids.length / 8));
    expect(corpus.tokensPerBatch).toBe(24);
    const rows = corpus.batches(0).flatMap((batch) => Array.from({ length: batch.rows }, (_, r) => Array.from(batch.inputIds.subarray(r * 8, (r + 1) * 8))));
    const blocks = Array.from({ length: corpus.numBlocks }, (_, b) => ids.slice(b * 8, (b + 1) * 8));
    expect([...rows].sort()).toEqual([...blocks].sort());
    expect(corpus.targetTokens!(corpus.batches(0)[0])).toBe(corpus.batches(0)[0].rows * 7);
  });

  it('shuffles blocks per epoch, fixed by the seed', () => {
    const order = (seed: number, epoch: number) =>
      causalLM.prepare(model, texts, { blockSize: 4, batchSize: 2, seed }).batches(epoch).map((batch) => Array.from(batch.inputIds).join(','));
    expect(order(5, 0)).toEqual(order(5, 0));
    expect(order(5, 1)).not.toEqual(order(5, 0));
    expect(order(6, 0)).not.toEqual(order(5, 0));
    expect(causalLM.prepare(model, texts, { blockSize: 4, batchSize: 2, seed: 5, maxBlocks: 3 }).numBlocks).toBe(3);
  });

  it('computes the causal LM loss of its blocks', () => {
    const [batch] = causalLM.prepare(model, texts, { blockSize: 8, batchSize: 2, seed: 5 }).batches(0);
    const rows = Array.from({ length: batch.rows }, (_, r) => Array.from(batch.inputIds.subarray(r * 8, (r + 1) * 8)));
    const [blockLoss, reference] = tf.tidy(() => [causalLMBlockLoss(model, batch).dataSync()[0], causalLMObjective(model, { inputIds: rows }).dataSync()[0]]);
    expect(blockLoss).toBe(reference);
  });

  it.each([
    ['a corpus shorter than one block', ['x'], { blockSize: 16 }, /fewer than one block of 16/],
    ['a block longer than the positions', texts, { blockSize: 65 }, /has 64 positions/],
    ['batch size 0', texts, { blockSize: 8, batchSize: 0 }, /Invalid batchSize 0/],
  ])('rejects %s', (_case, corpus, options, message) => {
    expect(() => causalLM.prepare(model, corpus, { batchSize: 2, seed: 1, ...options })).toThrow(InvalidInputError);
    expect(() => causalLM.prepare(model, corpus, { batchSize: 2, seed: 1, ...options })).toThrow(message);
  });
});
